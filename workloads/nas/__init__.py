"""PC-DARTS search: NAS, D/T-NAS and D/T-Meta-NAS on a supernet (``search_spaces.supernet``).

Plain Python: batches in (lists or DataLoaders of ``(images, maps, labels, *extra)``), a
``report(dict)`` per epoch out. The weights are trained on the support side, the architecture on
the query side (bi-level, first order by default, DARTS's unrolled second order on request); the
architecture stays frozen for ``warmup_epochs``.

* NAS: random halves of the training set (``splits.RandomSplit``).
* D/T-NAS: ``splits.DomainSplit`` over N source domains (or attack types): each step draws one
  query domain and one batch of every other domain as support.
* D/T-Meta-NAS (NAS-FAS Algorithm 1, ``mode="meta"``): per support domain one inner SGD step of
  the weights (a domain learner), a meta-update of the weights with the sum of the learners'
  query losses, then the architecture update on the query loss at the meta-updated weights.

Modules, lowest first: ``config`` (hyper-parameters, a step's task, errors), ``splits`` (support /
query splitters, batch helpers), ``objective`` (loss, accuracy, finiteness), ``grads`` (the
supernet's weights, applying gradients), ``architect`` (the architecture update), ``steps`` (one
weight / architecture step each), ``optimizers`` (PC-DARTS and meta-NAS behind one interface),
``loop`` (``search`` and the resumable ``SearchLoop``).
"""
