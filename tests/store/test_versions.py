import errno
import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from conftest import SAMPLE, TINY, error_line, invoke, snapshot
from forecast.errors import BundleError, BusyError
from forecast.store.versions import LEGACY, Store, new_version_id


def publish(store: Store, version_id: str) -> None:
    staging = store.stage(version_id)
    (staging / "metadata.json").write_text("{}")
    store.commit(staging, version_id)


def test_version_ids_sort_by_time_and_do_not_collide():
    import datetime as dt

    early = new_version_id(dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.timezone.utc))
    late = new_version_id(dt.datetime(2026, 1, 2, 3, 4, 6, tzinfo=dt.timezone.utc))
    assert early.startswith("20260102T030405Z-") and early < late
    assert len({new_version_id() for _ in range(50)}) > 45  # same second, random suffix


def test_current_is_a_link_swapped_in_one_step(tmp_path):
    store = Store(tmp_path / "m")
    assert store.current_id() is None
    publish(store, "20260101T000000Z-aaaa")
    publish(store, "20260102T000000Z-bbbb")
    store.set_current("20260101T000000Z-aaaa")
    assert os.readlink(tmp_path / "m" / "current") == "versions/20260101T000000Z-aaaa"
    store.set_current("20260102T000000Z-bbbb")
    assert store.resolve() == tmp_path / "m" / "versions" / "20260102T000000Z-bbbb"
    assert [v.id for v in store.all() if v.current] == ["20260102T000000Z-bbbb"]
    assert sorted(p.name for p in (tmp_path / "m").iterdir()) == ["current", "versions"]  # no temporary link left


def test_unknown_version_and_empty_directory_are_refused(tmp_path):
    store = Store(tmp_path / "m")
    with pytest.raises(BundleError, match="no model bundle"):
        store.resolve()
    publish(store, "20260101T000000Z-aaaa")
    with pytest.raises(BundleError, match="--version 'nope' is not in .*latest: 20260101T000000Z-aaaa"):
        store.resolve("nope")
    with pytest.raises(BundleError):
        store.set_current("nope")


def test_a_partial_version_is_invisible_and_cleaned(tmp_path):
    store = Store(tmp_path / "m")
    publish(store, "20260101T000000Z-aaaa")
    store.set_current("20260101T000000Z-aaaa")
    store.stage("20260102T000000Z-bbbb")  # a run killed while writing
    assert store.ids() == ["20260101T000000Z-aaaa"]
    assert store.clean_partials() == [".partial-20260102T000000Z-bbbb"]
    assert not any(p.name.startswith(".") for p in (tmp_path / "m" / "versions").iterdir())


def test_the_earlier_single_bundle_layout_is_the_legacy_version(tmp_path):
    root = tmp_path / "m"
    root.mkdir()
    (root / "metadata.json").write_text("{}")
    store = Store(root)
    assert store.current_id() == LEGACY and store.resolve() == root
    store.check_writable()  # training into it adds versions beside the old bundle
    publish(store, "20260101T000000Z-aaaa")
    store.set_current("20260101T000000Z-aaaa")
    assert store.ids() == [LEGACY, "20260101T000000Z-aaaa"]
    store.set_current(LEGACY)  # and it can be rolled back to
    assert store.resolve() == root


def test_prune_keeps_the_newest_and_the_current(tmp_path):
    store = Store(tmp_path / "m")
    ids = [f"2026010{i}T000000Z-aaaa" for i in range(1, 6)]
    for version_id in ids:
        publish(store, version_id)
    store.set_current(ids[0])
    assert store.prune(keep=2) == ids[1:3]
    assert store.ids() == [ids[0], ids[3], ids[4]]


def test_refuses_a_directory_of_other_files(tmp_path):
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "keep.txt").write_text("mine")
    with pytest.raises(BundleError, match="holds files that are not forecast models"):
        Store(tmp_path / "notes").check_writable()


HOLD = textwrap.dedent("""
    import sys, time
    from forecast.store.versions import Store
    with Store(sys.argv[1]).lock(0):
        print("locked", flush=True)
        time.sleep(60)
""")


def hold_lock(root):
    process = subprocess.Popen([sys.executable, "-c", HOLD, str(root)], stdout=subprocess.PIPE, text=True)
    assert process.stdout.readline().strip() == "locked"
    return process


def test_a_second_writer_waits_then_gives_up_with_busy(tmp_path):
    holder = hold_lock(tmp_path / "m")
    try:
        started = time.monotonic()
        with pytest.raises(BusyError, match=r"locked by pid \d+.*--lock-timeout 0.5 s") as caught:
            with Store(tmp_path / "m").lock(0.5):
                pass
        assert time.monotonic() - started >= 0.5
        assert caught.value.exit_code == 75
    finally:
        holder.kill()
        holder.wait()


def test_a_killed_holder_does_not_block_the_next_run(tmp_path):
    holder = hold_lock(tmp_path / "m")
    holder.send_signal(signal.SIGKILL)
    holder.wait()
    with Store(tmp_path / "m").lock(2):  # the kernel released the dead process's lock
        pass


def test_a_link_left_by_a_kill_while_switching_current_is_cleaned_not_refused(tmp_path):
    store = Store(tmp_path / "m")
    publish(store, "20260101T000000Z-aaaa")
    store.set_current("20260101T000000Z-aaaa")
    os.symlink("versions/20260101T000000Z-aaaa", tmp_path / "m" / ".current-dead")  # killed before the rename
    store.check_writable()
    assert store.clean_partials() == [".current-dead"]
    assert store.resolve() == tmp_path / "m" / "versions" / "20260101T000000Z-aaaa"


def test_a_missing_current_version_is_named(tmp_path):
    store = Store(tmp_path / "m")
    publish(store, "20260101T000000Z-aaaa")
    store.set_current("20260101T000000Z-aaaa")
    import shutil

    shutil.rmtree(tmp_path / "m" / "versions" / "20260101T000000Z-aaaa")
    with pytest.raises(BundleError, match="the current version '20260101T000000Z-aaaa' .* is missing"):
        store.resolve()


# A full disk, a quota, a read-only file system, too many open files: each the OS call's own error.
DISK_ERRORS = [
    (errno.ENOSPC, "no space left on device", "Free space there (df -h; df -i for inodes) and retry, or use another --model-dir."),
    (errno.EDQUOT, "disk quota exceeded", "Free space within your disk quota and retry, or use another --model-dir."),
    (errno.EROFS, "read-only file system", "Remount it read-write, or use another --model-dir."),
    (errno.EMFILE, "too many open files", "Raise the limit on open files (ulimit -n) and retry."),
]


def failing(code: int, when=lambda *args: True, call=None):
    """A stand-in for an OS call that fails with `code` when `when(*args)`, else makes the call."""

    def fail(*args, **kwargs):
        if when(*args):
            raise OSError(code, os.strerror(code))
        return call(*args, **kwargs)

    return fail


@pytest.mark.parametrize("code, reason, fix", DISK_ERRORS)
def test_models_use_that_cannot_write_current_is_one_error_and_current_unchanged(code, reason, fix, existing, monkeypatch):
    before = snapshot(existing)
    (version,) = os.listdir(existing / "versions")
    monkeypatch.setattr(os, "symlink", failing(code))
    result = invoke("models", "use", version, "--model-dir", existing)
    assert result.exit_code == 2, result.stderr
    assert error_line(result.stderr) == (
        f"error: cannot point {str(existing / 'current')!r} at version {version} ({reason}); the current version is "
        f"unchanged. {fix}\n")
    assert "Traceback" not in result.stderr and snapshot(existing) == before


@pytest.mark.parametrize("where", ["staging", "current"])
def test_train_on_a_full_disk_is_one_error_current_unchanged_and_nothing_left_behind(where, existing, monkeypatch):
    before = snapshot(existing)
    if where == "staging":  # no inodes left for the new version's directory
        monkeypatch.setattr(os, "mkdir", failing(errno.ENOSPC, lambda path, *a: ".partial-" in str(path), os.mkdir))
    else:
        monkeypatch.setattr(os, "symlink", failing(errno.ENOSPC))
    result = invoke("train", SAMPLE / "airline-passengers.csv", "--lookback", "12", "--horizon", "12", "--promote", "always",
                    "--model-dir", existing, *TINY)
    assert result.exit_code == 2, result.stderr
    line = error_line(result.stderr)
    assert "(no space left on device)" in line and line.endswith(f"{DISK_ERRORS[0][2]}\n"), line
    assert "Traceback" not in result.stderr and "unexpected" not in result.stderr
    after = snapshot(existing)
    assert after["current"] == before["current"]
    assert not [name for name in after if ".partial-" in name or name.startswith(".current-")]
    if where == "staging":
        assert line.startswith(f"error: cannot make a new version in {str(existing / 'versions')!r}") and after == before
    else:  # the version is complete, a candidate: only `current` could not be switched to it
        assert line.startswith(f"error: cannot point {str(existing / 'current')!r} at version ")


def test_a_read_only_file_system_is_named_as_such(tmp_path, monkeypatch):
    read_only = os.statvfs(tmp_path)
    monkeypatch.setattr(os, "access", lambda path, mode, **kwargs: False)  # as on a file system mounted read-only
    monkeypatch.setattr(os, "statvfs", lambda path: os.statvfs_result(
        (*read_only[:8], read_only.f_flag | os.ST_RDONLY, read_only.f_namemax)))
    result = invoke("train", SAMPLE / "airline-passengers.csv", "--check", "--model-dir", tmp_path / "m")
    assert result.exit_code == 2, result.stderr
    assert error_line(result.stderr) == (
        f"error: cannot write to {str(tmp_path)!r} (read-only file system). Remount it read-write, or use another --model-dir.\n")
