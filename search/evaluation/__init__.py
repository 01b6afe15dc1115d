"""Search quality: judged queries, ranking metrics, and runs of the live ranking against them."""
