"""The component runtime: registry, launching, process managers.

Layers above (the control plane, the node) import the models they share with it from here, never from its
modules: what a task launch carries and the task states it reports.
"""
from hulian.component.launch import ComponentRunner, Resources, StatusCallback, TaskLaunch, TaskState

__all__ = ["ComponentRunner", "Resources", "StatusCallback", "TaskLaunch", "TaskState"]
