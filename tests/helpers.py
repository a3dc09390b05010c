"""Small helpers the tests share (pytest puts this folder on sys.path)."""


def make_task(name: str, **options):
    """A task instance with the given model options (the rest at the task's defaults)."""
    from pipelines.registry import get_task, task_class

    return get_task(name, task_class(name).Options(**options))


def batch_loss(task, model, batch):
    """The training loss of `batch` as TaskModule computes it (plain criterion)."""
    from pipelines.models.losses import Criterion
    from pipelines.models.outputs import model_inputs

    return task.loss(model, model(**model_inputs(model, batch)), batch, Criterion())
