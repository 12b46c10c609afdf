"""Two example tests of client code against mqttest: a behaviour and a fault (paho-mqtt)."""

import threading

import paho.mqtt.client as mqtt
import pytest


def connected_client(server, client_id, **kwargs):
    """A paho client connected to the server, with its CONNACK return code."""
    answered = threading.Event()
    result = {}

    def on_connect(client, userdata, flags, rc, properties=None):
        result["rc"] = rc
        answered.set()

    client = mqtt.Client(client_id=client_id, **kwargs)
    client.on_connect = on_connect
    client.connect(server.host, server.port, keepalive=30)
    client.loop_start()
    assert answered.wait(10), "no CONNACK"
    return client, result["rc"]


@pytest.mark.mqttest("--idprefix", "sensor-")
def test_a_client_the_server_refuses_is_told_why(mqttest):
    client, rc = connected_client(mqttest, "intruder")
    client.loop_stop()
    assert rc == 2  # identifier rejected
    refused = mqttest.wait_for(lambda e: e["_tag"] == "ConnectionClosed")
    assert refused["reason"] == "ConnectRefused"
    client, rc = connected_client(mqttest, "sensor-1")
    assert rc == 0
    client.disconnect()
    client.loop_stop()


def test_a_client_sees_the_server_drop_it_and_its_will_goes_out(mqttest):
    watcher, _ = connected_client(mqttest, "watcher")
    wills = []
    got_will = threading.Event()

    def on_message(client, userdata, message):
        wills.append(message.payload.decode())
        got_will.set()

    watcher.on_message = on_message
    watcher.subscribe("status/device", qos=1)
    mqttest.wait_for(lambda e: e["_tag"] == "PacketSent" and e["packet"]["_tag"] == "Suback")

    dropped = threading.Event()
    device = mqtt.Client(client_id="device")
    device.will_set("status/device", "offline", qos=1)
    device.on_disconnect = lambda client, userdata, rc, properties=None: dropped.set()
    device.connect(mqttest.host, mqttest.port, keepalive=30)
    device.loop_start()
    opened = mqttest.wait_for(lambda e: e["_tag"] == "PacketReceived" and e.get("clientId") == "device")

    # The fault: the server closes the device's connection, as a broker restart would.
    mqttest.command("disconnect", connection=opened["connection"])
    assert dropped.wait(10), "the device did not notice"
    assert got_will.wait(10), "no will message"
    assert wills == ["offline"]
    stats = mqttest.command("stats")
    assert stats["connections"] == 2
    for client in (device, watcher):
        client.loop_stop()
    watcher.disconnect()
