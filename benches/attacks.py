#!/usr/bin/env python3
"""The attacks of docs/SECURITY.md against a running node, each with a publish and /healthz
timed beside it. Run through benches/attacks.sh, which starts the node.
usage: attacks.py WS_PORT HTTP_PORT NODE_PID MASTER_TOKEN PARENT_TOKEN PARENT_ACCOUNT NAME"""
import socket, sys, time, os, json, http.client, threading, resource
resource.setrlimit(resource.RLIMIT_NOFILE, (20000, 20000))
ws, rest, pid, master, ptok, parent, name = sys.argv[1:8]
ws, rest = int(ws), int(rest)
def rss():
    for l in open(f"/proc/{pid}/status"):
        if l.startswith("VmRSS"): return int(l.split()[1])//1024
def fds(): return len(os.listdir(f"/proc/{pid}/fd"))
def timed_healthz():
    t=time.perf_counter()
    try:
        c=http.client.HTTPConnection("127.0.0.1",rest,timeout=10); c.request("GET","/healthz"); r=c.getresponse(); r.read(); st=r.status
    except Exception as e: st=repr(e)
    return st, round((time.perf_counter()-t)*1000,1)
def timed_publish():
    body=json.dumps({"exchange":"callevt","routing_key":"x","payload":{"Event-Name":"CHANNEL_CREATE","Call-ID":"b","Custom-Channel-Vars":{"Account-ID":parent}}})
    t=time.perf_counter()
    try:
        c=http.client.HTTPConnection("127.0.0.1",rest,timeout=10); c.request("POST","/v2/events",body,{"X-Auth-Token":master}); r=c.getresponse(); r.read(); st=r.status
    except Exception as e: st=repr(e)
    return st, round((time.perf_counter()-t)*1000,1)
def report(stage):
    print(f"  {stage}: rss {rss()} MiB, fds {fds()}, healthz {timed_healthz()}, publish {timed_publish()}", flush=True)
print(name); report("before")
held=[]
if name=="bodies":
    sent=0
    for _ in range(40):
        s=socket.create_connection(("127.0.0.1",rest)); s.settimeout(2)
        try:
            s.sendall(b"POST /v2/events HTTP/1.1\r\nHost: x\r\nContent-Length: 16777216\r\n\r\n")
            for _ in range(15): s.sendall(b" "*(1024*1024)); sent+=1
        except Exception: pass
        held.append(s)
    print("  MiB of body the node took in:", sent)
    answers=[]
    for s in held:
        s.settimeout(5)
        try: answers.append(s.recv(64).split(b"\r\n")[0].decode())
        except Exception as e: answers.append(repr(e))
    print("  answers:", {a: answers.count(a) for a in set(answers)})
    report("40 stalled 16 MiB bodies without a token")
elif name=="upgrades":
    for i in range(15000):
        try:
            s=socket.create_connection(("127.0.0.1",ws)); s.sendall(b"GET / HTTP/1.1\r\n"); held.append(s)
        except Exception as e: print("connect failed at", i, e); break
    time.sleep(1)
    report(f"{len(held)} stalled upgrades from one address")
elif name=="lists":
    req=f"GET /v2/accounts/{parent}/websockets HTTP/1.1\r\nHost: x\r\nX-Auth-Token: {ptok}\r\nConnection: close\r\n\r\n".encode()
    for i in range(1000):
        s=socket.create_connection(("127.0.0.1",rest)); s.sendall(req); held.append(s)
    time.sleep(2)
    report("1000 concurrent whole lists, unread")
    for s in held: s.close()
    held=[]; time.sleep(3)
    report("after they left")
for s in held: s.close()
time.sleep(2); report("after")
