"""Activating a model without ever serving a half-built index, and pruning a retired model's vectors.

Activation has three stages:

1. The evaluation gate (``gate``). Receivers of ``activation_gate`` (the training app compares test
   recall@5) may refuse the candidate; ``force`` overrides them.
2. One pass over the catalog in primary-key order (``embed_pass``) embeds, batch by batch and from the
   image cache, every artwork with an image that has no vector under the candidate. Search meanwhile
   keeps using the active model: its rows and its own partial HNSW index are untouched.
3. The switch (``switch``). First the switch gate: receivers of ``switch_gate`` (the search app ranks
   its judged queries under both models) may refuse the candidate, now that its vectors can be
   measured; its vectors are kept, and ``force`` skips this gate. Then, inside one transaction, and
   only if coverage is complete (``coverage``: nothing pending, and every artwork the active model
   serves has a vector under the candidate), the candidate becomes active.

The pass runs in one of two ways. ``service.activate`` (``manage.py activate_model``, one host) embeds
it in this process, batch by batch (``steps.run_step``, ``embed_pass``). ``service.request_activation``
(the admin's action, ``activate_model --queue``) fans it out (``fan_out``): its batches go to the embed
queue, where every embed worker takes a share, and a watcher step measures coverage from the database
and switches once, when it is complete. Progress is kept in Redis (``status``) for the admin and
reported to a callback for the command; a lease (``lease``) tells a running activation from one whose
process died. Pruning a retired model's vectors is ``pruning``.
"""
