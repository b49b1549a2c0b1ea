"""The event log (``spark.eventLog.enabled``, ``spark.eventLog.dir``): the application's
events as JSON lines, with Spark's event names and field names, so that a finished
application can be looked at later.

The file is ``<dir>/<application id>.inprogress`` while the context runs, renamed to
``<dir>/<application id>`` at ``stop()``. Each job's events are written when it ends,
from the engine's task log: SparkListenerJobStart, then per stage
SparkListenerStageSubmitted, a SparkListenerTaskEnd per logged attempt and
SparkListenerStageCompleted, then SparkListenerJobEnd. The application's start,
settings (redacted as the environment page shows them) and end come first and last.
A failure to write is logged once and turns the log off; it never fails a job.
"""
import json
import os
import threading
import time

from ember._ui import api

__all__ = ["directory", "EventLog"]

_TASK_END_REASONS = {1: {"Reason": "Success"}, 3: {"Reason": "TaskKilled", "Kill Reason": "stage cancelled"}}


def directory(conf):
    """The directory of ``spark.eventLog.dir`` (``file:`` URIs or paths). Raises
    FileNotFoundError when it is not a directory, PermissionError when it cannot be
    written (Spark, too, refuses to start then)."""
    directory = conf.get("spark.eventLog.dir", "file:/tmp/spark-events")
    if directory.startswith("file://"):
        directory = directory[len("file://"):]
    elif directory.startswith("file:"):
        directory = directory[len("file:"):]
    if not os.path.isdir(directory):
        raise FileNotFoundError(f"spark.eventLog.dir {directory!r} is not a directory: create it, or set "
                                "spark.eventLog.dir to one (or spark.eventLog.enabled=false)")
    if not os.access(directory, os.W_OK | os.X_OK):
        raise PermissionError(f"spark.eventLog.dir {directory!r} cannot be written: set spark.eventLog.dir to a "
                              "directory this user can write")
    return directory


class EventLog:
    def __init__(self, sc, directory):
        self.final_path = os.path.join(directory, sc.applicationId)
        self.path = self.final_path + ".inprogress"
        self._lock = threading.Lock()
        self._file = open(self.path, "w", encoding="utf-8")
        self._sc = sc
        env = api.environment(sc)
        self._write({"Event": "SparkListenerLogStart", "Spark Version": sc.version})
        self._write({"Event": "SparkListenerApplicationStart", "App Name": sc.appName, "App ID": sc.applicationId,
                     "Timestamp": sc.startTime, "User": sc.sparkUser()})
        self._write({"Event": "SparkListenerEnvironmentUpdate", "Spark Properties": dict(env["sparkProperties"]),
                     "System Properties": dict(env["systemProperties"]),
                     "Classpath Entries": dict(env["classpathEntries"])})
        self._flush()

    def _write(self, event):
        if self._file is not None:
            self._file.write(json.dumps(event, separators=(",", ":")) + "\n")

    def _flush(self):
        try:
            if self._file is not None:
                self._file.flush()
        except OSError as e:
            self._fail(e)

    def _fail(self, error):
        from ember import log
        log.logger.warning("The event log %s could not be written (%s); no more events are written", self.path,
                           error)
        try:
            self._file.close()
        except OSError:
            pass
        self._file = None

    def job_finished(self, job_id, job):
        """Writes a finished job's events (job is the history's record of it, None
        when it has left the history already)."""
        if job is None:
            return
        sc = self._sc
        records = [r for r in sc._core.stage_records() if r[1] == job_id]
        stage_ids = [r[0] for r in records]
        with self._lock:
            try:
                self._write({"Event": "SparkListenerJobStart", "Job ID": job_id,
                             "Submission Time": int(job.submitted * 1000), "Stage IDs": stage_ids,
                             "Stage Infos": [self._stage_info(r) for r in records],
                             "Properties": {k: v for k, v in (("spark.jobGroup.id", job.group),
                                                              ("spark.job.description", job.description),
                                                              ("spark.job.tags", ",".join(job.tags) or None))
                                            if v is not None}})
                for r in records:
                    if r[5] == 3:  # skipped: Spark submits nothing for it
                        continue
                    self._write({"Event": "SparkListenerStageSubmitted", "Stage Info": self._stage_info(r)})
                    for row in api.task_rows(sc, r[0]):
                        self._write(self._task_end(row, r))
                    self._write({"Event": "SparkListenerStageCompleted", "Stage Info": self._stage_info(r)})
                result = {"Result": "JobSucceeded"} if job.status == "SUCCEEDED" else \
                    {"Result": "JobFailed", "Exception": {"Message": f"Job {job_id} failed or was cancelled"}}
                self._write({"Event": "SparkListenerJobEnd", "Job ID": job_id,
                             "Completion Time": int((job.completed or time.time()) * 1000), "Job Result": result})
                self._flush()
            except OSError as e:
                self._fail(e)

    def _stage_info(self, r):
        stage_id, job_id, attempt, kind, node_id, status, ntasks, submitted, completed = r
        info = {"Stage ID": stage_id, "Stage Attempt ID": attempt,
                "Stage Name": api.stage_name(self._sc, r, self._sc._jobs.get(job_id), stage_id),
                "Number of Tasks": ntasks, "Parent IDs": [], "Details": ""}
        if submitted:
            info["Submission Time"] = submitted
        if completed:
            info["Completion Time"] = completed
        if status == 2:
            info["Failure Reason"] = "a task failed past spark.task.maxFailures, or the job was cancelled"
        return info

    def _task_end(self, row, stage):
        """SparkListenerTaskEnd of a task log row (api.TaskRow) of stage (its record)."""
        reason = _TASK_END_REASONS.get(row.status) or {"Reason": "ExceptionFailure", "Description": row.error or "",
                                                       "Full Stack Trace": row.error or ""}
        return {
            "Event": "SparkListenerTaskEnd", "Stage ID": row.stage_id, "Stage Attempt ID": row.stage_attempt,
            "Task Type": "ShuffleMapTask" if stage[3] == 1 else "ResultTask",
            "Task End Reason": reason,
            "Task Info": {"Task ID": row.task_id, "Index": row.index, "Attempt": row.attempt,
                          "Partition ID": row.partition, "Launch Time": row.launch, "Executor ID": "driver",
                          "Host": "localhost", "Locality": "PROCESS_LOCAL", "Speculative": False,
                          "Getting Result Time": 0, "Finish Time": row.finish, "Failed": row.status == 2,
                          "Killed": row.status == 3},
            "Task Metrics": {"Executor Run Time": (row.finish or row.launch) - row.launch,
                             "Result Size": row.output_bytes if stage[3] == 0 else 0,
                             "Memory Bytes Spilled": row.memory_spilled, "Disk Bytes Spilled": row.disk_spilled,
                             "Input Metrics": {"Bytes Read": row.input_bytes, "Records Read": row.records_read},
                             "Output Metrics": {"Bytes Written": row.output_bytes,
                                                "Records Written": row.records_written},
                             "Shuffle Read Metrics": {"Local Bytes Read": row.shuffle_read, "Remote Bytes Read": 0,
                                                      "Total Records Read": row.shuffle_records_read},
                             "Shuffle Write Metrics": {"Shuffle Bytes Written": row.shuffle_write,
                                                       "Shuffle Records Written": row.shuffle_records_written}},
        }

    def close(self):
        """Writes the application's end and gives the file its final name."""
        with self._lock:
            if self._file is None:
                return
            try:
                self._write({"Event": "SparkListenerApplicationEnd", "Timestamp": int(time.time() * 1000)})
                self._file.close()
                self._file = None
                os.replace(self.path, self.final_path)
            except OSError as e:
                self._fail(e)
