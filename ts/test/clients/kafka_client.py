"""Scripted Kafka client for FerryMQ's client matrix tests.

Runs one JSON spec (argv[1], or stdin without one) with confluent-kafka
or kafka-python and prints one JSON line: {"results": [...], "error": null
| "..."}, one result per step.
The tests pin the library versions (scripts/test-deps.sh); this script only
drives them, so what is exercised is the library's own protocol code.

Spec: {"client": "confluent" | "kafka-python", "bootstrap": "host:port",
       "steps": [{"op": ..., ...}]}
Ops:
  produce  {topic, compression, messages: [{key, value, headers, partition?}],
            acks?, idempotence? (both left at the library's default unless given),
            allow_errors? (confluent: report delivery errors by name, not raise)}
  consume  {topic, count, group?, commit?, timeout_s?, idle_s?, reset?}
           without group: every partition is assigned from the beginning;
           with group: subscribe, read `count`, commit synchronously if
           `commit`, close (leaving the group). With idle_s, the read also
           ends once records came and then none for idle_s seconds.
  create_topics {topics: [{name, partitions}]}   (admin)
  describe_topics {topics: [...]}                (admin)
  delete_topics {topics: [...]}                  (admin)
  list_topics {}                                 (admin)
  versions {}                                    (library versions)
"""

import json
import sys
import time
import traceback


def text(b):
    if b is None:
        return None
    if isinstance(b, str):
        return b
    return b.decode("utf-8", "replace")


def enc(s):
    return None if s is None else s.encode("utf-8")


def hdrs_out(headers):
    return [[text(k), text(v)] for k, v in (headers or [])]


class Idle:
    """With idle_s set, a read ends once it has records and none came for idle_s seconds."""

    def __init__(self, idle_s):
        self.idle_s = idle_s
        self.count = 0
        self.since = time.time()

    def over(self, count):
        if count != self.count:
            self.count = count
            self.since = time.time()
        return self.idle_s is not None and count > 0 and time.time() - self.since >= self.idle_s


# ---------------------------------------------------------------------------
# confluent-kafka (librdkafka)
# ---------------------------------------------------------------------------
class Confluent:
    def __init__(self, bootstrap):
        import confluent_kafka

        self.ck = confluent_kafka
        self.bootstrap = bootstrap
        self.base = {"bootstrap.servers": bootstrap, "broker.address.family": "v4"}

    def versions(self, _step):
        return {
            "confluent_kafka": self.ck.__version__,
            "librdkafka": self.ck.libversion()[0],
        }

    def produce(self, step):
        conf = dict(self.base)
        conf["compression.type"] = step.get("compression", "none")
        if "acks" in step:
            conf["acks"] = str(step["acks"])
        if "idempotence" in step:
            conf["enable.idempotence"] = bool(step["idempotence"])
        conf["linger.ms"] = 5
        p = self.ck.Producer(conf)
        delivered = []
        errors = []

        def cb(err, msg):
            if err is not None:
                errors.append(err.name())
            else:
                delivered.append([msg.partition(), msg.offset()])

        for m in step["messages"]:
            headers = [(k, enc(v)) for k, v in (m.get("headers") or {}).items()]
            kwargs = {"key": enc(m.get("key")), "value": enc(m.get("value")), "headers": headers, "on_delivery": cb}
            if "partition" in m:
                kwargs["partition"] = m["partition"]
            p.produce(step["topic"], **kwargs)
        left = p.flush(step.get("timeout_s", 15))
        if left or (errors and not step.get("allow_errors")):
            raise RuntimeError(f"produce: {left} undelivered, errors {errors[:3]}")
        return {"delivered": delivered, "errors": errors} if step.get("allow_errors") else {"delivered": delivered}

    def consume(self, step):
        conf = dict(self.base)
        group = step.get("group")
        conf["group.id"] = group or "ferrymq-matrix-unused"
        conf["enable.auto.commit"] = False
        conf["auto.offset.reset"] = step.get("reset", "earliest")
        if group:
            conf["session.timeout.ms"] = 10000
            conf["heartbeat.interval.ms"] = 1000
        c = self.ck.Consumer(conf)
        topic = step["topic"]
        try:
            if group:
                c.subscribe([topic])
            else:
                md = c.list_topics(topic, timeout=10)
                parts = sorted(md.topics[topic].partitions.keys())
                c.assign([self.ck.TopicPartition(topic, p, self.ck.OFFSET_BEGINNING) for p in parts])
            out = []
            deadline = time.time() + step.get("timeout_s", 20)
            idle = Idle(step.get("idle_s"))
            while len(out) < step["count"] and time.time() < deadline and not idle.over(len(out)):
                msg = c.poll(0.5)
                if msg is None:
                    continue
                if msg.error():
                    if msg.error().code() == self.ck.KafkaError._PARTITION_EOF:
                        continue
                    raise RuntimeError(f"consume: {msg.error()}")
                out.append(
                    {
                        "partition": msg.partition(),
                        "offset": msg.offset(),
                        "key": text(msg.key()),
                        "value": text(msg.value()),
                        "headers": hdrs_out(msg.headers()),
                    }
                )
            if group and step.get("commit"):
                c.commit(asynchronous=False)
            committed = None
            if group:
                tps = [self.ck.TopicPartition(topic, p) for p in sorted({m["partition"] for m in out})]
                if tps:
                    committed = {str(tp.partition): tp.offset for tp in c.committed(tps, timeout=10)}
            return {"messages": out, "committed": committed}
        finally:
            c.close()

    def _admin(self):
        from confluent_kafka.admin import AdminClient

        return AdminClient(dict(self.base))

    def create_topics(self, step):
        from confluent_kafka.admin import NewTopic

        a = self._admin()
        fs = a.create_topics(
            [NewTopic(t["name"], num_partitions=t["partitions"], replication_factor=1) for t in step["topics"]],
            operation_timeout=10,
        )
        out = {}
        for name, f in fs.items():
            try:
                f.result(15)
                out[name] = None
            except Exception as e:  # the per-topic error is the result
                out[name] = str(e.args[0].name() if e.args and hasattr(e.args[0], "name") else e)
        return out

    def describe_topics(self, step):
        from confluent_kafka import TopicCollection

        a = self._admin()
        fs = a.describe_topics(TopicCollection(step["topics"]), request_timeout=10)
        out = {}
        for name, f in fs.items():
            try:
                d = f.result(15)
                out[name] = {"partitions": [p.id for p in d.partitions], "leaders": [p.leader.id for p in d.partitions]}
            except Exception as e:
                out[name] = {"error": str(e.args[0].name() if e.args and hasattr(e.args[0], "name") else e)}
        return out

    def delete_topics(self, step):
        a = self._admin()
        fs = a.delete_topics(step["topics"], operation_timeout=10)
        out = {}
        for name, f in fs.items():
            try:
                f.result(15)
                out[name] = None
            except Exception as e:
                out[name] = str(e.args[0].name() if e.args and hasattr(e.args[0], "name") else e)
        return out

    def list_topics(self, _step):
        md = self._admin().list_topics(timeout=10)
        return sorted(md.topics.keys())


# ---------------------------------------------------------------------------
# kafka-python (pure Python)
# ---------------------------------------------------------------------------
class KafkaPython:
    def __init__(self, bootstrap):
        import kafka

        self.k = kafka
        self.bootstrap = bootstrap

    def versions(self, _step):
        return {"kafka_python": self.k.__version__}

    def produce(self, step):
        codec = step.get("compression", "none")
        opts = {}
        if "acks" in step:
            opts["acks"] = step["acks"] if step["acks"] == "all" else int(step["acks"])
        # Left at the library's default (on since 3.0, KIP-679) unless the spec says otherwise.
        if "idempotence" in step:
            opts["enable_idempotence"] = bool(step["idempotence"])
        p = self.k.KafkaProducer(
            bootstrap_servers=self.bootstrap,
            compression_type=None if codec == "none" else codec,
            linger_ms=5,
            request_timeout_ms=15000,
            **opts,
        )
        try:
            futures = []
            for m in step["messages"]:
                headers = [(k, enc(v)) for k, v in (m.get("headers") or {}).items()]
                futures.append(
                    p.send(
                        step["topic"],
                        key=enc(m.get("key")),
                        value=enc(m.get("value")),
                        headers=headers,
                        partition=m.get("partition"),
                    )
                )
            p.flush(step.get("timeout_s", 15))
            delivered = []
            for f in futures:
                md = f.get(timeout=15)
                delivered.append([md.partition, md.offset])
            return {"delivered": delivered}
        finally:
            p.close(5)

    def consume(self, step):
        topic = step["topic"]
        group = step.get("group")
        c = self.k.KafkaConsumer(
            bootstrap_servers=self.bootstrap,
            group_id=group,
            enable_auto_commit=False,
            auto_offset_reset=step.get("reset", "earliest"),
            consumer_timeout_ms=500,
            session_timeout_ms=10000,
            heartbeat_interval_ms=1000,
            request_timeout_ms=15000,
        )
        try:
            if group:
                c.subscribe([topic])
            else:
                deadline = time.time() + 10
                parts = c.partitions_for_topic(topic)
                while parts is None and time.time() < deadline:
                    time.sleep(0.2)
                    parts = c.partitions_for_topic(topic)
                if not parts:
                    raise RuntimeError(f"no partitions for {topic}")
                tps = [self.k.TopicPartition(topic, p) for p in sorted(parts)]
                c.assign(tps)
                c.seek_to_beginning(*tps)
            out = []
            deadline = time.time() + step.get("timeout_s", 20)
            idle = Idle(step.get("idle_s"))
            while len(out) < step["count"] and time.time() < deadline and not idle.over(len(out)):
                polled = c.poll(timeout_ms=500, max_records=step["count"] - len(out))
                for recs in polled.values():
                    for r in recs:
                        out.append(
                            {
                                "partition": r.partition,
                                "offset": r.offset,
                                "key": text(r.key),
                                "value": text(r.value),
                                "headers": hdrs_out(r.headers),
                            }
                        )
            committed = None
            if group:
                if step.get("commit"):
                    c.commit()
                committed = {}
                for p in sorted({m["partition"] for m in out}):
                    committed[str(p)] = c.committed(self.k.TopicPartition(topic, p))
            return {"messages": out, "committed": committed}
        finally:
            c.close()


def main():
    spec = json.loads(sys.argv[1]) if len(sys.argv) > 1 else json.load(sys.stdin)
    results = []
    error = None
    try:
        impl = {"confluent": Confluent, "kafka-python": KafkaPython}[spec["client"]](spec["bootstrap"])
        for step in spec["steps"]:
            fn = getattr(impl, step["op"], None)
            if fn is None:
                raise ValueError(f"{spec['client']} has no op {step['op']}")
            results.append(fn(step))
    except Exception as e:
        error = f"{type(e).__name__}: {e}\n{traceback.format_exc(limit=4)}"
    sys.stdout.write(json.dumps({"results": results, "error": error}) + "\n")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
