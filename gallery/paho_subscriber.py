"""A paho-mqtt MQTT 5 subscriber for gallery entry 7: connects to argv[1]:argv[2], subscribes to
argv[3] at QoS 2, prints what happens as JSON lines, and disconnects after its first message.
Nothing catches paho's own exceptions: a bug that ends its network loop ends the script."""
import json
import sys

import paho.mqtt
import paho.mqtt.client as mqtt

host, port, topic = sys.argv[1], int(sys.argv[2]), sys.argv[3]


def say(what):
    print(json.dumps(what), flush=True)


def on_connect(client, userdata, flags, reason, properties):
    client.subscribe(topic, qos=2)


def on_subscribe(client, userdata, mid, reasons, properties):
    say({"subscribed": topic, "paho": paho.mqtt.__version__})


def on_message(client, userdata, message):
    say({"message": message.topic, "payload": message.payload.decode(), "qos": message.qos})
    client.disconnect()


client = mqtt.Client(client_id="paho", protocol=mqtt.MQTTv5)
client.on_connect = on_connect
client.on_subscribe = on_subscribe
client.on_message = on_message
client.connect(host, port)
client.loop_forever()
say({"done": True})
