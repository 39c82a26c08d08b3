"""Evaluations: is what the product says right, on data where the truth is known?

`agent` (merchant requests and routing on the phrasing splits, on the store `agent_store`
builds), `retrieval` (playbook search), `scores` and `real_stores` (the real stores; a package
run as `python -m evals.quality.real_stores`), `loop` (the loop that grades itself),
`cdnow` (the CDNOW sample as a store) and `train_router` (the intent model, trained on the dev
splits only). `evals.run` puts them in one report.
"""
