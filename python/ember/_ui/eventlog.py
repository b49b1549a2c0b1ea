"""The event log (``spark.eventLog.enabled``, ``spark.eventLog.dir``): the application's
events as JSON lines, with Spark's event names and field names, so that a finished
application can be looked at later.

The file is ``<dir>/<application id>.inprogress`` while the context runs, renamed to
``<dir>/<application id>`` at ``stop()``. Events are appended as they happen and the
file is flushed after each batch of them, so a running application's log, or a crashed
one's, is readable up to its last events: the application's start and settings
(redacted as the environment page shows them) when the context starts;
SparkListenerJobStart when a job is submitted; then, from the engine's task log,
SparkListenerStageSubmitted when a stage starts, a SparkListenerTaskEnd per attempt that
ends and SparkListenerStageCompleted when the stage ends; SparkListenerJobEnd when the
job ends (after the events of its stages), and the application's end at ``stop()``.

A thread of the log's own watches the task log while jobs run: it looks at most every
:data:`POLL_SECONDS`, reads only when the task log changed (``tasklog_changes``), and
then only the stages not yet written as completed and their attempts. The engine plans
a job's stages as it runs them, so a JobStart lists the stages planned when the job
started (those of a job that reuses shuffle output: its skipped stages); the others
follow as they are submitted. Attempts that leave the task log (``spark.ui.retainedTasks``)
before the thread reads them are not written. A failure to write is logged once and
turns the log off; it never fails a job.
"""
import json
import os
import threading
import time

from ember._ui import api

__all__ = ["directory", "EventLog", "POLL_SECONDS"]

POLL_SECONDS = 0.1

_TASK_END_REASONS = {1: {"Reason": "Success"}, 3: {"Reason": "TaskKilled", "Kill Reason": "stage cancelled"}}
_RUNNING, _ACTIVE, _SKIPPED = 0, 0, 3  # EMBER_TASK_RUNNING, EMBER_STAGE_ACTIVE, EMBER_STAGE_SKIPPED


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
        self._lock = threading.Lock()  # the file and what has been written
        self._file = open(self.path, "w", encoding="utf-8")
        self._sc = sc
        self._stages = {}     # stage id -> "submitted" or "done": what was written of it
        self._tasks = {}      # stage id of a stage submitted, not done -> attempt ids written
        self._jobs = set()    # jobs started and not ended
        self._seen = None     # the task log's change count when last read
        self._wake = threading.Event()
        self._closing = False
        self._thread = None
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

    # ---- jobs: written by the job's own thread -------------------------------------

    def job_started(self, job_id, job):
        """Writes a job's start (job: the history's record of it), and makes sure the
        thread that follows its stages runs."""
        sc = self._sc
        records = [r for r in sc._core.stage_records() if r[1] == job_id]
        with self._lock:
            if self._file is None:
                return
            try:
                self._write({"Event": "SparkListenerJobStart", "Job ID": job_id,
                             "Submission Time": int(job.submitted * 1000), "Stage IDs": [r[0] for r in records],
                             "Stage Infos": [self._stage_info(r) for r in records],
                             "Properties": _job_properties(job)})
                self._flush()
            except OSError as e:
                self._fail(e)
            self._jobs.add(job_id)
            if self._thread is None:
                self._thread = threading.Thread(target=self._follow, name="ember-eventlog", daemon=True)
                self._thread.start()
        self._wake.set()

    def job_finished(self, job_id, job):
        """Writes the events of the job's stages not written yet, then its end (job:
        the history's record of it, None when it has left the history already)."""
        with self._lock:
            self._jobs.discard(job_id)
            if self._file is None:
                return
            try:
                self._catch_up()
                if job is not None:
                    result = {"Result": "JobSucceeded"} if job.status == "SUCCEEDED" else \
                        {"Result": "JobFailed", "Exception": {"Message": f"Job {job_id} failed or was cancelled"}}
                    self._write({"Event": "SparkListenerJobEnd", "Job ID": job_id,
                                 "Completion Time": int((job.completed or time.time()) * 1000),
                                 "Job Result": result})
                self._flush()
            except OSError as e:
                self._fail(e)

    # ---- stages and tasks: followed by the log's thread ------------------------------

    def _follow(self):
        """While jobs run, writes what the task log gained, at most every POLL_SECONDS."""
        while not self._closing:
            self._wake.wait()
            while not self._closing and self._jobs:
                with self._lock:
                    if self._file is None:
                        return
                    try:
                        self._catch_up()
                        self._flush()
                    except OSError as e:
                        self._fail(e)
                time.sleep(POLL_SECONDS)
            self._wake.clear()
            if self._jobs:  # a job started between the check and the clear
                self._wake.set()

    def _catch_up(self):
        """Writes the stage and task events the task log has and the file has not yet.
        Caller holds _lock."""
        core = self._sc._core
        changes = core.tasklog_changes()
        if changes == self._seen:
            return
        self._seen = changes
        for r in core.stage_records():
            sid, status = r[0], r[5]
            if self._stages.get(sid) == "done" or status == _SKIPPED:  # Spark submits nothing for a skipped stage
                continue
            if sid not in self._stages:
                self._write({"Event": "SparkListenerStageSubmitted", "Stage Info": self._stage_info(r),
                             "Properties": _job_properties(self._sc._jobs.get(r[1]))})
                self._stages[sid] = "submitted"
            written = self._tasks.setdefault(sid, set())
            for row in api.task_rows(self._sc, sid):
                if row.status != _RUNNING and row.task_id not in written:
                    self._write(self._task_end(row, r))
                    written.add(row.task_id)
            if status != _ACTIVE:
                self._write({"Event": "SparkListenerStageCompleted", "Stage Info": self._stage_info(r)})
                self._stages[sid] = "done"
                del self._tasks[sid]

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
        """Ends the log's thread, writes the application's end and gives the file its
        final name."""
        self._closing = True
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
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


def _job_properties(job):
    """A job's Spark properties as its events carry them: group, description, tags."""
    if job is None:
        return {}
    return {k: v for k, v in (("spark.jobGroup.id", job.group), ("spark.job.description", job.description),
                              ("spark.job.tags", ",".join(job.tags) or None)) if v is not None}
