import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

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
