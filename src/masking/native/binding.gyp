{
  "targets": [
    {
      "target_name": "sqlwarden_rows",
      "sources": ["rows.c", "detect.c"],
      "cflags": ["-O3", "-std=c11", "-Wall", "-Wextra", "-Wno-unused-parameter"]
    }
  ]
}
