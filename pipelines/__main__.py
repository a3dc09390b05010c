"""`python -m pipelines <command>`: the same as the `nlp-pipelines` console command."""

from pipelines.commands import main

main()
