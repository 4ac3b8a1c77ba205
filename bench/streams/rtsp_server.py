"""A real RTSP server for the camera tests and benchmarks: GStreamer's gst-rtsp-server plays an MP4 (H.264 or H.265) at
rtsp://127.0.0.1:PORT/cam, and any more clips at mounts of their own, over TCP or UDP as the client asks. Run by the
system python3, which has `gi`:

    /usr/bin/python3 bench/streams/rtsp_server.py --port 8554 --file clip.mp4 --codec h264 [--user U --password P]
    /usr/bin/python3 bench/streams/rtsp_server.py --port 8554 --mount walk=walk.mp4 --mount still=still.mp4   # /walk, /still

Each client gets the clip from its start; at its end the stream ends (the client sees EOF)."""
import argparse

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtspServer  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--check", action="store_true", help="exit 0 if every GStreamer element it needs is installed")
    parser.add_argument("--port", type=int)
    parser.add_argument("--file", help="the clip served at /cam")
    parser.add_argument("--mount", action="append", default=[], metavar="NAME=FILE", help="a clip served at /NAME (H.264 or --codec)")
    parser.add_argument("--codec", choices=("h264", "h265"), default="h264")
    parser.add_argument("--user")
    parser.add_argument("--password")
    args = parser.parse_args()
    Gst.init(None)
    if args.check:
        needed = ("filesrc", "qtdemux", "h264parse", "h265parse", "rtph264pay", "rtph265pay")
        missing = [name for name in needed if Gst.ElementFactory.find(name) is None]
        raise SystemExit(f"missing GStreamer elements: {missing}" if missing else 0)
    server = GstRtspServer.RTSPServer()
    server.set_address("127.0.0.1")
    server.set_service(str(args.port))
    if args.user:
        auth = GstRtspServer.RTSPAuth()
        token = GstRtspServer.RTSPToken()
        token.set_string(GstRtspServer.RTSP_TOKEN_MEDIA_FACTORY_ROLE, "user")
        auth.add_basic(GstRtspServer.RTSPAuth.make_basic(args.user, args.password), token)
        server.set_auth(auth)
    clips = dict(mount.split("=", 1) for mount in args.mount) | ({"cam": args.file} if args.file else {})
    for name, clip in clips.items():
        server.get_mount_points().add_factory(f"/{name}", factory(clip, args.codec, bool(args.user)))
    server.attach(None)
    print("ready", flush=True)
    GLib.MainLoop().run()


def factory(clip: str, codec: str, authenticated: bool) -> GstRtspServer.RTSPMediaFactory:
    """A mount playing `clip`; with `authenticated`, for the server's user only."""
    factory = GstRtspServer.RTSPMediaFactory()
    factory.set_launch(f'( filesrc location="{clip}" ! qtdemux ! {codec}parse ! rtp{codec}pay name=pay0 pt=96 config-interval=1 )')
    if authenticated:
        permissions = GstRtspServer.RTSPPermissions()
        permissions.add_permission_for_role("user", "media.factory.access", True)
        permissions.add_permission_for_role("user", "media.factory.construct", True)
        factory.set_permissions(permissions)
    return factory


if __name__ == "__main__":
    main()
