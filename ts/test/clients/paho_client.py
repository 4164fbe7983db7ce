"""A scripted paho-mqtt 2.x client for the FerryMQ conformance suite.

Usage: python paho_client.py '<json spec>'

The spec (JSON on argv[1]):
  host, port                     broker address
  protocol                       "MQTTv31" | "MQTTv311" | "MQTTv5"
  client_id                      string ("" asks the server to assign one)
  clean                          clean session (3.x) / clean start (5)
  keepalive                      seconds (default 60)
  session_expiry                 MQTT 5 Session Expiry Interval (seconds)
  transport                      "tcp" | "websockets" (path /mqtt)
  tls                            {"ca": path, "cert": path, "key": path}
  will                           {"topic", "payload", "qos", "retain", "delay"}
  steps                          list of actions, run in order:
    {"op": "subscribe", "topic", "qos", "no_local", "retain_as_published", "retain_handling"}
    {"op": "unsubscribe", "topic"}
    {"op": "publish", "topic", "payload", "qos", "retain", "props": {...}}
    {"op": "wait", "count": n, "timeout": seconds}   messages received in total
    {"op": "sleep", "seconds": s}
    {"op": "disconnect"}
    {"op": "drop"}                                   close the socket without DISCONNECT

Prints one JSON object on stdout:
  {"connack": {"reason_code", "session_present", "props"},
   "suback": [[codes...], ...], "messages": [{"topic", "payload", "qos", "retain", "props"}],
   "published": n, "error": null | string}
"""

import json
import sys
import threading
import time

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.subscribeoptions import SubscribeOptions

PROTOCOLS = {"MQTTv31": mqtt.MQTTv31, "MQTTv311": mqtt.MQTTv311, "MQTTv5": mqtt.MQTTv5}


def props_to_dict(props):
    if props is None:
        return {}
    out = {}
    for name in props.names:
        attr = name.replace(" ", "")
        if hasattr(props, attr):
            v = getattr(props, attr)
            if isinstance(v, (bytes, bytearray)):
                v = v.decode("utf-8", "replace")
            out[attr] = v
    return out


def make_props(packet_type, d):
    if not d:
        return None
    p = Properties(packet_type)
    for k, v in d.items():
        if k == "UserProperty":
            v = [tuple(x) for x in v]
        elif k == "CorrelationData":
            v = v.encode()
        setattr(p, k, v)
    return p


def main():
    spec = json.loads(sys.argv[1])
    proto = PROTOCOLS[spec.get("protocol", "MQTTv311")]
    v5 = proto == mqtt.MQTTv5
    result = {"connack": None, "suback": [], "messages": [], "published": 0, "error": None}
    cond = threading.Condition()
    state = {"connected": False, "closed": False}

    kwargs = {
        "callback_api_version": CallbackAPIVersion.VERSION2,
        "client_id": spec.get("client_id", ""),
        "protocol": proto,
        "transport": spec.get("transport", "tcp"),
    }
    if not v5:
        kwargs["clean_session"] = spec.get("clean", True)
    client = mqtt.Client(**kwargs)
    if kwargs["transport"] == "websockets":
        client.ws_set_options(path="/mqtt")
    tls = spec.get("tls")
    if tls:
        client.tls_set(ca_certs=tls.get("ca"), certfile=tls.get("cert"), keyfile=tls.get("key"))
    will = spec.get("will")
    if will:
        wprops = None
        if v5 and will.get("delay") is not None:
            wprops = Properties(PacketTypes.WILLMESSAGE)
            wprops.WillDelayInterval = will["delay"]
        client.will_set(will["topic"], will.get("payload", ""), will.get("qos", 0), will.get("retain", False), wprops)

    def on_connect(c, userdata, flags, reason_code, properties):
        with cond:
            result["connack"] = {
                "reason_code": reason_code.value if hasattr(reason_code, "value") else int(reason_code),
                "session_present": bool(flags.session_present),
                "props": props_to_dict(properties) if v5 else {},
            }
            state["connected"] = True
            cond.notify_all()

    def on_message(c, userdata, msg):
        with cond:
            result["messages"].append(
                {
                    "topic": msg.topic,
                    "payload": msg.payload.decode("utf-8", "replace"),
                    "qos": msg.qos,
                    "retain": bool(msg.retain),
                    "props": props_to_dict(msg.properties) if v5 else {},
                }
            )
            cond.notify_all()

    def on_subscribe(c, userdata, mid, reason_codes, properties):
        with cond:
            result["suback"].append([rc.value if hasattr(rc, "value") else int(rc) for rc in reason_codes])
            cond.notify_all()

    def on_publish(c, userdata, mid, reason_code, properties):
        with cond:
            result["published"] += 1
            cond.notify_all()

    def on_disconnect(c, userdata, flags, reason_code, properties):
        with cond:
            state["closed"] = True
            cond.notify_all()

    client.on_connect = on_connect
    client.on_message = on_message
    client.on_subscribe = on_subscribe
    client.on_publish = on_publish
    client.on_disconnect = on_disconnect

    def wait_until(pred, timeout):
        deadline = time.time() + timeout
        with cond:
            while not pred():
                left = deadline - time.time()
                if left <= 0:
                    return False
                cond.wait(left)
        return True

    connect_kwargs = {"keepalive": spec.get("keepalive", 60)}
    if v5:
        connect_kwargs["clean_start"] = spec.get("clean", True)
        if spec.get("session_expiry") is not None:
            cp = Properties(PacketTypes.CONNECT)
            cp.SessionExpiryInterval = spec["session_expiry"]
            connect_kwargs["properties"] = cp
    try:
        client.connect(spec["host"], spec["port"], **connect_kwargs)
    except Exception as e:  # noqa: BLE001 - reported to the test as data
        result["error"] = f"connect: {e!r}"
        print(json.dumps(result))
        return
    client.loop_start()
    try:
        if not wait_until(lambda: state["connected"] or state["closed"], 5):
            result["error"] = "no CONNACK within 5 s"
            return
        if result["connack"] is None or result["connack"]["reason_code"] != 0:
            return
        for step in spec.get("steps", []):
            op = step["op"]
            if op == "subscribe":
                if v5:
                    opts = SubscribeOptions(
                        qos=step.get("qos", 0),
                        noLocal=step.get("no_local", False),
                        retainAsPublished=step.get("retain_as_published", False),
                        retainHandling=step.get("retain_handling", 0),
                    )
                    n = len(result["suback"])
                    client.subscribe(step["topic"], options=opts)
                else:
                    n = len(result["suback"])
                    client.subscribe(step["topic"], step.get("qos", 0))
                if not wait_until(lambda n=n: len(result["suback"]) > n, 5):
                    result["error"] = "no SUBACK within 5 s"
                    return
            elif op == "unsubscribe":
                client.unsubscribe(step["topic"])
                time.sleep(0.1)
            elif op == "publish":
                n = result["published"]
                props = make_props(PacketTypes.PUBLISH, step.get("props")) if v5 else None
                client.publish(
                    step["topic"], step.get("payload", ""), step.get("qos", 0), step.get("retain", False), props
                )
                if not wait_until(lambda n=n: result["published"] > n, 5):
                    result["error"] = "publish not acknowledged within 5 s"
                    return
            elif op == "wait":
                count = step["count"]
                if not wait_until(lambda: len(result["messages"]) >= count, step.get("timeout", 5)):
                    result["error"] = f"expected {count} messages, got {len(result['messages'])}"
                    return
            elif op == "sleep":
                time.sleep(step["seconds"])
            elif op == "disconnect":
                client.disconnect()
                wait_until(lambda: state["closed"], 2)
            elif op == "drop":
                sock = client.socket()
                if sock is not None:
                    sock.close()
                time.sleep(0.1)
            else:
                result["error"] = f"unknown op {op}"
                return
    finally:
        client.loop_stop()
        print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
