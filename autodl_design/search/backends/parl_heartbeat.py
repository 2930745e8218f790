"""Make PARL 2.2.1's client-side heartbeat server work with current grpcio.

``parl.connect`` starts a gRPC server that every remote job pings every 10 s; a job that gets
no answer for 30 s concludes that its client is gone and exits. PARL builds that server in the
client process and *forks* (``multiprocessing.Process``) to run it. With the grpcio that
Python 3.11 needs (PARL pins 1.37), a gRPC server created before a fork does not serve in the
child: measured here, no heartbeat ever arrived, so every actor's job quit ~30 s after it was
created (and the client, hearing nothing either, never noticed). Evaluations longer than that
could never finish.

:func:`install` replaces that process with a thread of the client process that runs the same
servicer (PARL's own ``GrpcHeartbeatServer``) with the same interface, so jobs stay alive and a
job that really dies is reported after PARL's usual 30-40 s. Call it before ``parl.connect``.
"""

from __future__ import annotations

import threading
import time
from concurrent import futures

_POLL_S = 0.5


def install() -> None:
    """Swap PARL's forked heartbeat server for :class:`HeartbeatServerThread` (idempotent)."""
    from parl.remote import client

    client.HeartbeatServerProcess = HeartbeatServerThread


class HeartbeatServerThread(threading.Thread):
    """Drop-in for ``parl.remote.grpc_heartbeat.HeartbeatServerProcess``, as a thread.

    Same constructor and duties: report the bound port through ``port``, keep
    ``client_count`` up to date, and put the id of every job silent for longer than
    ``HEARTBEAT_RCVTIMEO_S`` into ``dead_job_queue``; stop when ``host_is_alive`` turns 0.
    """

    def __init__(self, port, client_count, host_is_alive, dead_job_queue):
        import grpc
        from parl.remote.grpc_heartbeat import heartbeat_pb2_grpc
        from parl.remote.grpc_heartbeat.heartbeat_server import GrpcHeartbeatServer

        super().__init__(daemon=True, name="parl-job-heartbeat")
        self.grpc_server = grpc.server(
            futures.ThreadPoolExecutor(max_workers=32),
            options=[
                ("grpc.max_receive_message_length", -1),
                ("grpc.max_send_message_length", -1),
            ],
        )
        self.servicer = GrpcHeartbeatServer(client_count, host_is_alive, dead_job_queue)
        heartbeat_pb2_grpc.add_GrpcHeartbeatServicer_to_server(self.servicer, self.grpc_server)
        with port.get_lock():
            port.value = self.grpc_server.add_insecure_port("[::]:0")
        self.client_count = client_count
        self.host_is_alive = host_is_alive
        self.dead_job_queue = dead_job_queue

    def run(self) -> None:
        from parl.remote import remote_constants

        self.grpc_server.start()
        last_check = time.monotonic()
        # PARL's loop also stops when the parent pid is 1; in a thread there is no parent to
        # lose, and a container's init may well be our parent.
        while self.host_is_alive.value:
            time.sleep(_POLL_S)
            if time.monotonic() - last_check < remote_constants.HEARTBEAT_INTERVAL_S:
                continue
            last_check = time.monotonic()
            now = time.time()
            table = self.servicer.last_heartbeat_table
            for job_id, last in list(table.items()):
                if now - last > remote_constants.HEARTBEAT_RCVTIMEO_S:
                    del table[job_id]
                    self.dead_job_queue.put(job_id)
            self.client_count.value = len(table)
        self.grpc_server.stop(0)
