"""Real stream sources for the camera tests and benchmarks: an RTSP server (GStreamer), an HTTP MJPEG camera,
and clips made from the fixture images with known people in them."""
