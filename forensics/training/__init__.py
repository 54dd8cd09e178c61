"""The training pipeline: refits the shipped pixel models, the default fusion, attribution and
the generated evaluation pages from the manifests of ``../shared/corpus``.

    python -m forensics.training --train-dir DIR --cache CACHE --mirror MIRROR [--from STAGE] [--to STAGE]

One module per stage, run in this order (:func:`forensics.training.runner.stages`): ``pixel_data``,
``fit_pixel_heads``, ``taesd_fakes``, ``autogan_fakes``, ``train_npr``, ``signal_scores``,
``fit_fusion``, ``eval_generalisation``, ``fit_attribution``; each also runs alone with
``python -m forensics.training.<stage>``. Shared modules: ``corpus`` (labels, splits, families,
groups), ``seeds``, ``folds``, ``metrics``, ``pixel_signals`` (the pixel signals the fusion may
weigh, one line each, and where their scores lie); the hidden set's laundering is
``forensics.evaluation.laundering.launder_q75``. Helpers run by hand: ``build_effnet`` (the
backbone's ONNX graph), ``fusion_priors``, ``make_sample``, ``calibration_experiment``.

Torch (the ``convert`` extra) is imported only by the stages that train (``taesd_fakes``,
``autogan_fakes``, ``train_npr``, ``build_effnet``); ``import forensics`` never imports this
package (an import-linter contract keeps it so). docs/pixels.md, "Reproducing", has the details.
"""
