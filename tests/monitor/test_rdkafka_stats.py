"""librdkafka statistics: the real broker connections' windows, in ms, and the records fetched but not polled."""

from __future__ import annotations

import pytest

from monitor.rdkafka_stats import BrokerWindow, ClientWindow, client_window, describe


def window(**us: int) -> dict[str, int]:
    """A librdkafka window statistic (microseconds), with the fields vigil does not read."""
    return {"min": 0, "sum": 0, "stddev": 0, "p50": 0, "p75": 0, "p90": 0, "p95": 0, "p99_99": 0,
            "outofrange": 0, "hdrsize": 11376, **us}


BOOTSTRAP = {"name": "127.0.0.1:9092/bootstrap", "nodeid": -1, "source": "configured", "state": "UP",
             "rtt": window(cnt=3, avg=900, p99=1000, max=1000), "waitresp_cnt": 0}
BROKER_1 = {"name": "127.0.0.1:9092/1", "nodeid": 1, "source": "learned", "state": "UP", "waitresp_cnt": 1, "tx": 9_120,
            "rtt": window(cnt=812, avg=10_400, p99=31_250, max=48_000),
            "int_latency": window(cnt=0, avg=0, p99=0, max=0), "outbuf_latency": window(cnt=812, avg=20, p99=60)}
COORDINATOR = {"name": "GroupCoordinator", "nodeid": 1, "source": "logical", "state": "UP", "waitresp_cnt": 0,
               "rtt": window(cnt=4, avg=500_000, p99=500_000, max=500_000)}
PRODUCER_BROKER = {"name": "127.0.0.1:9092/1", "nodeid": 1, "source": "learned", "waitresp_cnt": 0, "tx": 4_410,
                   "rtt": window(cnt=200, avg=2_000, p99=7_500, max=9_000),
                   "int_latency": window(cnt=4_000, avg=600, p99=2_100, max=3_000),
                   "outbuf_latency": window(cnt=200, avg=30, p99=150, max=400)}


CONSUMER = {"name": "vigil-eos#consumer-2", "type": "consumer", "brokers": {
    BOOTSTRAP["name"]: BOOTSTRAP, BROKER_1["name"]: BROKER_1, COORDINATOR["name"]: COORDINATOR},
    # every assigned partition reports the one consumer queue its fetch queue is forwarded to, each read at its moment
    "topics": {"readings": {"topic": "readings", "partitions": {"0": {"fetchq_cnt": 150}, "7": {"fetchq_cnt": 152},
                                                                "-1": {"fetchq_cnt": 999}}},
               "consent": {"topic": "consent", "partitions": {"0": {"fetchq_cnt": 152}}}}}
PRODUCER = {"name": "vigil-eos#producer-1", "type": "producer",
            "brokers": {BOOTSTRAP["name"]: BOOTSTRAP, PRODUCER_BROKER["name"]: PRODUCER_BROKER}, "topics": {}}


@pytest.mark.parametrize(("stats", "expected"), [
    pytest.param(CONSUMER, ClientWindow("vigil-eos#consumer-2", "consumer", (
        BrokerWindow(node=1, requests=812, rtt_avg_ms=10.4, rtt_p99_ms=31.25, rtt_max_ms=48.0, queued_p99_ms=0.0,
                     outbuf_p99_ms=0.06, waiting=1, sent_total=9_120),), fetched_unpolled=152),
                 id="consumer: the queue once; not the bootstrap, the coordinator nor the unassigned partition"),
    pytest.param(PRODUCER, ClientWindow("vigil-eos#producer-1", "producer", (
        BrokerWindow(node=1, requests=200, rtt_avg_ms=2.0, rtt_p99_ms=7.5, rtt_max_ms=9.0, queued_p99_ms=2.1,
                     outbuf_p99_ms=0.15, waiting=0, sent_total=4_410),), fetched_unpolled=0), id="producer"),
    pytest.param({"name": "c#consumer-1", "type": "consumer", "brokers": {BOOTSTRAP["name"]: BOOTSTRAP}},
                 ClientWindow("c#consumer-1", "consumer", (), 0), id="not yet connected"),
    pytest.param({"name": "c", "type": "consumer", "brokers": {"b/2": {"nodeid": 2}}, "topics": []},
                 ClientWindow("c", "consumer", (BrokerWindow(2, 0, 0.0, 0.0, 0.0, 0.0, 0.0, 0),), 0),
                 id="missing windows read as none timed"),
])
def test_a_statistics_document_becomes_its_client_window(stats, expected):
    assert client_window(stats) == expected


@pytest.mark.parametrize(("stats", "line"), [
    (CONSUMER, "librdkafka consumer vigil-eos#consumer-2: broker 1: 812 round trips, avg 10.4 p99 31.2 max 48.0 ms, "
               "1 unanswered; 152 records fetched and not yet polled"),
    (PRODUCER, "librdkafka producer vigil-eos#producer-1: broker 1: 200 round trips, avg 2.0 p99 7.5 max 9.0 ms, "
               "0 unanswered; records queued p99 2.1 ms, requests before the socket p99 0.1 ms"),
    ({"name": "p", "type": "producer", "brokers": {}}, "librdkafka producer p: no broker connection"),
])
def test_the_log_line_says_where_records_waited(stats, line):
    assert describe(client_window(stats)) == line
