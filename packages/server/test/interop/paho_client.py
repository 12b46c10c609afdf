"""Publishes a message to itself through an MQTT server with paho-mqtt and prints it.

Usage: paho_client.py HOST PORT LEVEL [CAFILE]   (LEVEL 4 = MQTT 3.1.1, 5 = MQTT 5.0)
With CAFILE, over TLS (tls_set), trusting that CA only.
Exit 0 with the received payload on stdout, non-zero on any failure.
"""
import sys
import threading

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

host, port, level = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
cafile = sys.argv[4] if len(sys.argv) > 4 else None
v5 = level == 5
received = threading.Event()
result = {}

client = mqtt.Client(client_id=f"paho{level}", protocol=mqtt.MQTTv5 if v5 else mqtt.MQTTv311)


def on_connect(client, userdata, flags, rc, properties=None):
    client.subscribe("paho/t", qos=1)


def on_subscribe(client, userdata, mid, granted, properties=None):
    properties = None
    if v5:
        properties = Properties(PacketTypes.PUBLISH)
        properties.UserProperty = [("lang", "python")]
    client.publish("paho/t", "hello from paho", qos=1, properties=properties)


def on_message(client, userdata, message):
    result["payload"] = message.payload.decode()
    if v5:
        result["user"] = dict(getattr(message.properties, "UserProperty", []))
    received.set()


if cafile is not None:
    client.tls_set(ca_certs=cafile)
client.on_connect = on_connect
client.on_subscribe = on_subscribe
client.on_message = on_message
client.connect(host, port, keepalive=30)
client.loop_start()
if not received.wait(10):
    print("no message received", file=sys.stderr)
    sys.exit(1)
client.disconnect()
client.loop_stop()
print(result["payload"] + (f" {result['user']['lang']}" if v5 else ""))
