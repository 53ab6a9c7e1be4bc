"""Stand-in for the ``azureml_user`` package that Azure ML's parallel runtime
provides inside its workers (it is not on PyPI), so entry scripts written for
Azure import unchanged under pjob: ``from azureml_user.parallel_run import
EntryScript``. Configured by ``pjob.engine.host`` in every worker process; also
usable on its own for local testing of an entry script.
"""
