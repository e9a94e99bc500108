"""Training datasets for ML programs (issue 14): STAC with the label extension, COCO, masks and YOLO."""
