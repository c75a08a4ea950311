{
  "targets": [
    {
      "target_name": "vsock",
      "sources": ["src/vsock.c"],
      "cflags": ["-std=gnu11", "-Wall", "-Wextra", "-O2"],
      "conditions": [["OS!='linux'", {"type": "none", "sources!": ["src/vsock.c"]}]]
    }
  ]
}
