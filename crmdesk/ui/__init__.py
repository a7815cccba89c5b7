"""The Qt layer: models, views, the task runner.

Only this package and ``crmdesk.app`` import Qt.
"""
