"""The main job's application, importable so that ``examples/`` holds thin scripts.

One module per job:

* :mod:`agents.experiment.configs`: :class:`~agents.experiment.configs.TrainConfig` and the
  presets;
* :mod:`agents.experiment.run_folder`: the run folder (config, metrics, checkpoints, reports);
* :mod:`agents.experiment.train`: the training loop with its evaluations and reports
  (``examples/meta_train.py``);
* :mod:`agents.experiment.evaluate`: evaluate a saved agent on any split
  (``examples/evaluate.py``);
* :mod:`agents.experiment.combine`: combine single-seed runs into one report over seeds
  (``examples/combine_runs.py``);
* :mod:`agents.experiment.plots`: the learning curve and the in-context curve;
* :mod:`agents.experiment.multihost`: join a multi-process JAX job from the command line.

Nothing is imported here, so ``import agents.experiment.multihost`` stays free of JAX work.
"""
