"""One file per task; each defines `TASK`, a `pipelines.task.Task` subclass with its own `Options`."""
