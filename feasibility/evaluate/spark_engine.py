"""Run the compiled trials on Apache Spark: the DuckDB engine's statements, rendered as Spark SQL.

The extract is checked against the contract as for DuckDB (from the parquet metadata, no rows
read); Spark then reads the parquet files itself, and each step is the sqlglot expression
the DuckDB engine runs (in the shape `statements(..., dialect="spark")` gives it), rendered
for Spark. Each intermediate table is computed once, checkpointed and read back as a
temporary view. The result is the DuckDB engine's `EngineResult`, with the same histograms
and data-quality counts.

Needs the optional extra (`pip install 'feasibility[spark]'`) and a Java runtime. `master`
is a Spark master URL: `local[N]` on one machine, or a cluster's, e.g. `spark://host:7077`.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb
import pyarrow as pa
from sqlglot import exp

from feasibility.compile.pipeline import render
from feasibility.compile.plan import plan_features
from feasibility.compile.sqlexpr import create_as
from feasibility.compile.tables import RUN, Tables
from feasibility.criteria.concepts import ConceptLibrary
from feasibility.criteria.model import Trial
from feasibility.errors import ExtractError, FeasibilityError, withhold_values
from feasibility.evaluate.driver import READ, evaluate, histogram_columns
from feasibility.evaluate.options import RunOptions, memory_setting
from feasibility.evaluate.results import EngineResult
from feasibility.extract.source import events_query, inspect_extract

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

DEFAULT_MASTER = "local[2]"

# The raw parquet rows; `events` is the contract's view over them, as in DuckDB.
_RAW = "extract_rows"
# Every view a run makes, from `Tables` itself so that a table added there is dropped too.
# Only `events` reads another view (the raw rows); the tables a run computes are
# checkpointed. `drop` goes in reverse, so `events` goes before the rows it reads.
_VIEWS = (
    _RAW,
    "code_map",
    *(getattr(RUN, f.name) for f in fields(Tables) if f.name != "keys"),
)
_SPARK_TYPES = {pa.string(): "STRING", pa.int32(): "INT", pa.float64(): "DOUBLE"}
# set on every session a run uses, its own or one it is given
_SQL_SETTINGS = {
    "spark.sql.session.timeZone": "UTC",
    "spark.sql.ansi.enabled": "false",
    "spark.sql.pyspark.jvmStacktrace.enabled": "false",
    # dates before 1582 as written (proleptic Gregorian), as DuckDB reads them
    "spark.sql.parquet.datetimeRebaseModeInRead": "CORRECTED",
    "spark.sql.parquet.int96RebaseModeInRead": "CORRECTED",
}
_SETTINGS = {"spark.app.name": "feasibility", "spark.ui.showConsoleProgress": "false", **_SQL_SETTINGS}
# on one machine: few shuffle partitions, no web UI, nothing listening beyond localhost
_LOCAL_SETTINGS = {
    "spark.sql.shuffle.partitions": "4",
    "spark.ui.enabled": "false",
    "spark.driver.host": "127.0.0.1",
    "spark.driver.bindAddress": "127.0.0.1",
}
# log4j2 for the driver: errors only, one line each, and none of the stack traces of a failed
# task or start (the user gets one line from us instead). Naming `org.apache.spark` also
# keeps Spark from printing its "Setting default log level" banner.
_LOG4J = """\
rootLogger.level = error
rootLogger.appenderRef.stderr.ref = console
appender.console.type = Console
appender.console.name = console
appender.console.target = SYSTEM_ERR
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = %d{HH:mm:ss} %p %c{1}: %m%n
appender.console.layout.alwaysWriteExceptions = false
logger.spark.name = org.apache.spark
logger.spark.level = error
logger.context.name = org.apache.spark.SparkContext
logger.context.level = off
logger.executor.name = org.apache.spark.executor.Executor
logger.executor.level = off
logger.tasks.name = org.apache.spark.scheduler.TaskSetManager
logger.tasks.level = off
logger.shutdown.name = org.apache.spark.util.ShutdownHookManager
logger.shutdown.level = off
"""


def run_on_spark(
    extract: str,
    trials: Sequence[Trial],
    library: ConceptLibrary,
    options: RunOptions,
    master: str = DEFAULT_MASTER,
    progress: Callable[[str], None] | None = None,
    session: SparkSession | None = None,
) -> EngineResult:
    """Evaluate the trials on the extract with Spark; the result equals the DuckDB engine's.

    A Spark session on `master` is started and stopped around the run, unless an open
    `session` is given (it stays open; this run's views are dropped from it)."""
    step = progress or (lambda message: None)
    if session is None:
        require_spark()
    trials = list(trials)
    plan = plan_features(trials, library)
    con = duckdb.connect(":memory:")
    try:
        source = inspect_extract(con, extract)  # the contract check, from the parquet metadata
    finally:
        con.close()
    if source.widened:
        # Spark reads every file with one file's schema, and fails on the others' values
        raise ExtractError(
            f"column `{source.widened[0]}` is an integer of another width in some files, which "
            "Spark does not read as one column",
            where=extract,
            fix="export the files with one integer type, or run with the DuckDB engine",
        )
    if session is None:
        step(f"starting Spark ({master})")
    with _session(master, options, session) as spark:
        run = _Runner(spark, extract)
        try:
            step("reading the extract")
            run.read_parquet([str(f) for f in source.files])
            events = events_query(source, exp.to_table(_RAW), options.site)
            run.execute(run.sql(create_as("events", events, view=True)))
            return evaluate(run, trials, plan, source, options, step)
        finally:
            run.drop()


# ---------------------------------------------------------------- the session


def require_spark() -> None:
    """pyspark importable, and a Java runtime where Spark will look for one."""
    try:
        import pyspark  # noqa: F401
    except ImportError:
        raise FeasibilityError("Spark engine needs pyspark", fix="pip install 'feasibility[spark]'") from None
    home = os.environ.get("JAVA_HOME")
    if home:
        if not (Path(home) / "bin" / "java").is_file():
            raise FeasibilityError(
                "Spark engine needs a Java runtime, and JAVA_HOME has no bin/java",
                where=f"JAVA_HOME={home}",
                fix="point JAVA_HOME at a Java 8, 11 or 17 installation, or unset it",
            )
    elif shutil.which("java") is None:
        raise FeasibilityError(
            "Spark engine needs a Java runtime (`java` is not on PATH)",
            fix="install Java 17 (Debian: apt-get install openjdk-17-jre-headless) or set JAVA_HOME",
        )


def spark_settings(master: str, options: RunOptions, scratch: Path) -> dict[str, str]:
    """The Spark configuration of a session: UTC, quiet logs, its scratch space in
    `scratch`; on a local master also few shuffle partitions and no web UI."""
    log4j = scratch / "log4j2.properties"
    log4j.write_text(_LOG4J)
    settings = {**_SETTINGS, "spark.master": master}
    if master.startswith("local"):
        settings.update(_LOCAL_SETTINGS)
    settings["spark.local.dir"] = str(scratch / "local")
    settings["spark.sql.warehouse.dir"] = str(scratch / "warehouse")
    settings["spark.driver.extraJavaOptions"] = (
        f"-Duser.timezone=UTC -Dlog4j2.configurationFile={log4j.as_uri()}"
    )
    settings["spark.executor.extraJavaOptions"] = "-Duser.timezone=UTC"
    if options.memory_limit:
        settings["spark.driver.memory"] = _spark_memory(options.memory_limit)
    return settings


def start_spark(master: str = DEFAULT_MASTER, options: RunOptions | None = None) -> SparkSession:
    """A Spark session set up for the engine; end it with `stop_spark`."""
    require_spark()
    if not (master == "yarn" or master.startswith(("local", "spark://", "mesos://", "k8s://"))):
        # Spark's launcher would print a Java stack trace for it before failing
        raise FeasibilityError(
            f"`{master}` is not a Spark master URL",
            where="--spark-master",
            fix="use local[*], spark://HOST:PORT, k8s://..., mesos://... or yarn",
        )
    from pyspark.sql import SparkSession

    scratch = Path(tempfile.mkdtemp(prefix="feasibility-spark-"))
    builder = SparkSession.builder
    for key, value in spark_settings(master, options or RunOptions(), scratch).items():
        builder = builder.config(key, value)
    try:
        spark = builder.getOrCreate()
    except Exception as e:
        shutil.rmtree(scratch, ignore_errors=True)
        raise FeasibilityError(
            f"cannot start Spark ({_short(e)})",
            where=f"Spark master {master}",
            fix="check the master URL, and that Java 8, 11 or 17 runs (`java -version`)",
        ) from None
    spark.sparkContext.setLogLevel("ERROR")
    spark.conf.set("feasibility.scratch", str(scratch))
    return spark


def stop_spark(spark: SparkSession) -> None:
    """Stop the session and remove its scratch folder."""
    try:
        scratch = spark.conf.get("feasibility.scratch", None)
    except Exception:
        scratch = None
    try:
        spark.stop()
    finally:
        if scratch:
            shutil.rmtree(scratch, ignore_errors=True)


@contextmanager
def _session(master: str, options: RunOptions, session: SparkSession | None) -> Iterator[SparkSession]:
    if session is not None:
        yield session
        return
    spark = start_spark(master, options)
    try:
        yield spark
    finally:
        stop_spark(spark)


def _spark_memory(value: str) -> str:
    """A DuckDB-style size (`4GB`, `512MiB`) as whole Spark megabytes (`3815m`)."""
    match = re.fullmatch(r"(\d+(?:\.\d+)?)\s*([KMGT]?)(I?)B", memory_setting(value).upper())
    assert match is not None  # memory_setting accepted it
    number, prefix, binary = match.groups()
    size = float(number) * (1024 if binary else 1000) ** "BKMGT".index(prefix or "B")
    return f"{max(1, round(size / 2**20))}m"


# ---------------------------------------------------------------- the statements


class _Runner:
    """Runs rendered statements on one session (a `Runner`); Spark and Java errors become
    one line."""

    dialect = "spark"

    def __init__(self, spark: SparkSession, extract: str):
        self.spark = spark
        self.extract = extract
        # DuckDB read the extract's schema; Spark computed the counts
        self.versions = {"duckdb": duckdb.__version__, "spark": spark.version}
        for key, value in _SQL_SETTINGS.items():
            spark.conf.set(key, value)

    @staticmethod
    def sql(query: exp.Expr) -> str:
        return render(query, "spark")

    def read_parquet(self, files: list[str]) -> None:
        frame = self._guard(lambda: self.spark.read.parquet(*files), READ)
        frame.createOrReplaceTempView(_RAW)

    def register_code_map(self, table: pa.Table) -> None:
        """The code map (the DuckDB engine's Arrow table) as the cached view `code_map`."""
        schema = ", ".join(f"`{f.name}` {_SPARK_TYPES[f.type]}" for f in table.schema)
        rows = [tuple(row.values()) for row in table.to_pylist()]
        self.spark.createDataFrame(rows, schema=schema).createOrReplaceTempView("code_map")
        self.execute(self.sql(exp.Cache(this=exp.to_table("code_map"))))

    def create(self, name: str, query: exp.Expr, what: str | None = None) -> None:
        """The table, computed now, as a temporary view over its stored rows.

        The rows are checkpointed (reliably if the session has a checkpoint directory,
        else on the executors), so later queries start from them and not from the plan
        that made them: Spark would otherwise analyse and ship that plan again with
        every later query."""

        def build() -> None:
            frame = self.spark.sql(self.sql(query))
            if self.spark.sparkContext.getCheckpointDir():
                frame = frame.checkpoint(eager=True)
            else:
                frame = frame.localCheckpoint(eager=True)
            # fresh column ids: a GROUP BY column keeps its input's id, and two views
            # sharing ids confuse the resolution of a join between them
            frame.toDF(*frame.columns).createOrReplaceTempView(name)

        self._guard(build, what or f"build `{name}`")

    def execute(self, sql: str, what: str = READ) -> None:
        self._guard(lambda: self.spark.sql(sql).collect(), what)

    def query(self, query: exp.Expr, what: str | None = None) -> tuple[list[str], list[tuple]]:
        def fetch() -> tuple[list[str], list[tuple]]:
            frame = self.spark.sql(self.sql(query))
            return frame.columns, [tuple(row) for row in frame.collect()]

        return self._guard(fetch, what or "count data quality")

    def histogram(self, query: exp.Expr, trials: Sequence[Trial]) -> list[Any]:
        """The histogram's rows, collected, as columns."""
        return histogram_columns(trials, self.query(query, "count the masks")[1])

    def drop(self) -> None:
        """Uncache and drop this run's views, so a shared session stays clean. A view is
        dropped before the views it reads (`events` before the raw rows): Spark refuses to
        uncache a view whose source is gone, and one refusal must not keep the rest."""
        # a failure (the session gone or going, a view never made) is nothing left to clean
        for name in reversed(_VIEWS):
            with suppress(Exception):
                self.spark.sql(self.sql(exp.Uncache(this=exp.to_table(name), exists=True)))
            with suppress(Exception):
                self.spark.catalog.dropTempView(name)

    def _guard(self, action: Callable[[], Any], what: str) -> Any:
        try:
            return action()
        except FeasibilityError:
            raise
        except Exception as e:
            raise _user_error(e, what, self.extract) from None


def _user_error(error: Exception, what: str, extract: str) -> FeasibilityError:
    """A Spark or Py4J exception as a one-line error, without the JVM's stack trace."""
    message = _short(error)
    lower = message.lower()
    if "outofmemoryerror" in lower or "java heap space" in lower:
        return FeasibilityError(
            "Spark ran out of memory",
            where=extract,
            fix="give Spark more memory (spark.driver.memory / spark.executor.memory, "
            "or --memory-limit on a local master)",
        )
    if what == READ or "parquet" in lower or "filenotfound" in lower:
        return ExtractError(
            f"Spark cannot read the extract ({message})",
            where=extract,
            fix="check the files are complete parquet exports, with dates as DATE or microsecond timestamps",
        )
    return FeasibilityError(
        f"Spark could not {what} ({message})", where=extract, fix="check the Spark session and its logs"
    )


_JAVA_CLASS = re.compile(r"^(?:[a-z_$][\w$]*\.)+([A-Z][\w$]*: )")


def _short(error: BaseException, limit: int = 200) -> str:
    """The first line of the innermost cause's message, without Java package names."""
    message = ""
    java = getattr(error, "java_exception", None) or getattr(error, "_origin", None)
    if java is not None:
        try:
            cause = java
            while cause.getCause() is not None:
                cause = cause.getCause()
            message = f"{cause.getClass().getSimpleName()}: {cause.getMessage() or ''}"
        except Exception:
            message = ""
    if not message.strip():
        message = str(getattr(error, "desc", None) or error) or type(error).__name__
    first = message.strip().splitlines()[0] if message.strip() else type(error).__name__
    return withhold_values(_JAVA_CLASS.sub(r"\1", first))[:limit]
