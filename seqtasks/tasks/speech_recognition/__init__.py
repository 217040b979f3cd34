"""CTC speech recognition (`--task speech_recognition`): config, data, preprocessor (alphabet), model, task, export.

Importing this package registers the task with `seqtasks.tasks`.
"""

from seqtasks.tasks.speech_recognition.task import SpeechRecognitionTask

__all__ = ["SpeechRecognitionTask"]
