import json

import numpy as np

from research.false_positives import main, overlap_share


def test_overlap_share_counts_a_box_inside_an_annotated_face_and_one_around_it():
    annotated = np.array([[0, 0, 100, 100], [200, 0, 300, 100], [500, 500, 510, 510]], float)
    boxes = np.array([[10, 10, 30, 30], [90, 0, 110, 100], [400, 400, 410, 410], [495, 495, 530, 530]], float)
    assert overlap_share(boxes, annotated).tolist() == [1.0, 0.5, 0.0, 1.0]
    assert overlap_share(boxes, np.zeros((0, 4))).tolist() == [0, 0, 0, 0]


def test_ignore_writes_the_chosen_boxes_by_image(tmp_path, monkeypatch, capsys):
    found = {"found": [{"number": 0, "stem": "a", "box": [1, 2, 3, 4], "score": 0.9},
                       {"number": 1, "stem": "b", "box": [5, 6, 7, 8], "score": 0.8},
                       {"number": 2, "stem": "a", "box": [9, 9, 12, 12], "score": 0.7}]}
    (tmp_path / "fp.json").write_text(json.dumps(found))
    monkeypatch.setattr("sys.argv", ["x", "ignore", str(tmp_path / "fp.json"), "--real", "0", "2", "--out", str(tmp_path / "ig.json")])
    main()
    assert json.loads((tmp_path / "ig.json").read_text()) == {"a": [[1, 2, 3, 4], [9, 9, 12, 12]]}
