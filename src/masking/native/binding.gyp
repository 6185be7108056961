{
  "targets": [
    {
      "target_name": "sqlwarden_rows",
      "sources": ["rows.c", "detect.c"],
      "cflags": ["-O3", "-fno-tree-loop-distribute-patterns", "-std=c11", "-Wall", "-Wextra", "-Wno-unused-parameter"]
    }
  ]
}
