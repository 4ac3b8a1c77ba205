from research.paper_table import aggregate


def test_paper_table_aggregates_mean_and_std_over_seeds():
    runs = [{"split": "face", "arch": "custom_relu_bn", "seed": s, "pretrained": False, "seconds": 2.0,
             "device": "cpu", "acc_with_mask": a, "acc_without_mask": 1.0, "acc_mask_worn_incorrectly": 0.5, "aca": a} for s, a in enumerate([0.8, 0.9])]
    (row,) = aggregate(runs)
    assert row["seeds"] == 2 and row["init"] == "scratch" and row["devices"] == "cpu x2"
    assert row["aca"] == "85.00 ± 7.07"
    assert row["paper"].endswith("85.29")
