"""The Lambda-facing side: the composition root, configuration, HTTP bodies and answers, event
shapes shared by the entry points, and the translation of failures into what a caller sees."""
