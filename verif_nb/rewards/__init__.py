"""The verifier as a reward: a TRL reward function and verl ``compute_score`` functions.

Both wrap one :class:`~verif_nb.verifier.Verifier`, so training on TRL or on verl scores responses
exactly as ``verif-nb verify`` does. Records travel with the data (TRL: dataset columns from
:func:`~verif_nb.records.record_to_columns`; verl: the parquet rows of ``verif-nb export verl``).

Example:
    >>> from verif_nb.verifier import Verifier
    >>> reward = make_trl_reward(Verifier(mode="rule"))
    >>> reward.__name__
    'verif'
"""

from verif_nb.rewards.trl import VerifierReward, completion_text, make_trl_reward, reward_metrics

__all__ = ["VerifierReward", "completion_text", "make_trl_reward", "reward_metrics"]
