"""Accuracy of a clustering against ground truth, without enumerating pairs.

Pair counts come from cluster sizes (a cluster of n holds n(n-1)/2 pairs), so evaluation of a
million records costs one group-by, not a quadratic pair list.
"""

from __future__ import annotations

import pandas as pd


def _pairs(sizes: pd.Series) -> int:
    return int((sizes * (sizes - 1) // 2).sum())


def evaluate_clusters(
    assigned: pd.DataFrame, *, cluster: str = "cluster_id", truth: str = "person_id"
) -> dict[str, object]:
    """Pairwise precision/recall/F1, B-cubed F1, over- and under-merges, cluster sizes.

    `assigned` has one row per record with its predicted `cluster` and true `truth` entity.
    Records without a truth entity are left out.
    """
    data = assigned.dropna(subset=[truth])[[cluster, truth]]
    both = data.groupby([cluster, truth]).size()
    by_cluster = data.groupby(cluster).size()
    by_truth = data.groupby(truth).size()
    tp, predicted, actual = _pairs(both), _pairs(by_cluster), _pairs(by_truth)
    precision = tp / predicted if predicted else 1.0
    recall = tp / actual if actual else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0

    shares = both.rename("n").reset_index()
    shares["cluster_size"] = shares[cluster].map(by_cluster)
    shares["truth_size"] = shares[truth].map(by_truth)
    n = len(data)
    b3_precision = float((shares["n"] ** 2 / shares["cluster_size"]).sum() / n)
    b3_recall = float((shares["n"] ** 2 / shares["truth_size"]).sum() / n)
    b3_f1 = 2 * b3_precision * b3_recall / (b3_precision + b3_recall)
    entities_per_cluster = shares.groupby(cluster).size()
    clusters_per_entity = shares.groupby(truth).size()
    size_counts = by_cluster.value_counts().sort_index()
    return {
        "records": n,
        "clusters": int(by_cluster.size),
        "entities": int(by_truth.size),
        "pairwise": {
            "precision": precision,
            "recall": recall,
            "f1": f1,
            "true_positive_pairs": tp,
            "predicted_pairs": predicted,
            "true_pairs": actual,
        },
        "bcubed": {"precision": b3_precision, "recall": b3_recall, "f1": b3_f1},
        "over_merged_clusters": int((entities_per_cluster > 1).sum()),
        "split_entities": int((clusters_per_entity > 1).sum()),
        "cluster_sizes": {str(int(k)): int(v) for k, v in size_counts.items()},
    }
