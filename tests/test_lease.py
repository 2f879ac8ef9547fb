"""Silent-member detection and owner leases (sessionward.recovery.lease): literal times, no actors."""

from __future__ import annotations

import pytest

from sessionward.config import ClusterConfig
from sessionward.errors import BadInputError
from sessionward.operations.daemon import load_daemon_config
from sessionward.recovery.lease import Lease, check_timeouts, lease_state, silent_members


def test_a_member_is_silent_once_it_answered_nothing_for_the_member_timeout():
    heard = {"m2": 100.0, "m3": 95.0}
    assert silent_members(heard, now=104.9, member_timeout=10.0) == []
    assert silent_members(heard, now=105.0, member_timeout=10.0) == ["m3"]
    assert silent_members(heard, now=111.0, member_timeout=10.0) == ["m2", "m3"]


def test_a_lease_holds_within_the_lease_time_and_is_lost_after_it():
    assert lease_state(100.0, now=105.9, lease_timeout=6.0) is Lease.HELD
    assert lease_state(100.0, now=106.0, lease_timeout=6.0) is Lease.LOST


def test_a_lease_holds_past_its_time_when_the_leader_refuses_connections():
    # A refused port is a dead leader: nobody re-homes, so the member's turns may finish.
    assert lease_state(100.0, now=200.0, lease_timeout=6.0, leader_refused=True) is Lease.HELD


def test_the_lease_must_end_two_heartbeats_before_the_member_is_declared_gone():
    check_timeouts(1.0, 6.0, 8.0)
    with pytest.raises(ValueError, match="member_timeout"):
        check_timeouts(1.0, 6.0, 7.9)
    with pytest.raises(ValueError, match="heartbeat_every"):
        check_timeouts(0.0, 6.0, 10.0)
    with pytest.raises(ValueError, match="lease_timeout"):
        check_timeouts(2.0, 1.0, 10.0)


def test_cluster_config_refuses_a_lease_longer_than_the_member_timeout():
    assert ClusterConfig().lease_timeout + 2 * ClusterConfig().heartbeat_every <= ClusterConfig().member_timeout
    with pytest.raises(ValueError, match="member_timeout"):
        ClusterConfig(member_timeout=10.0, lease_timeout=20.0)


def test_the_daemon_config_reads_the_partition_timings_and_refuses_bad_ones(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text('[cluster]\nmember = "m1"\nheartbeat_every = 0.5\nmember_timeout = 6\nlease_timeout = 4\n')
    cluster = load_daemon_config(path).cluster
    assert (cluster.heartbeat_every, cluster.member_timeout, cluster.lease_timeout) == (0.5, 6.0, 4.0)
    path.write_text('[cluster]\nmember_timeout = 3\nlease_timeout = 4\n')
    with pytest.raises(BadInputError, match="member_timeout"):
        load_daemon_config(path)
    path.write_text('[cluster]\nmember_timeout = "soon"\n')
    with pytest.raises(BadInputError, match="seconds"):
        load_daemon_config(path)
