#include <event2/thread.h>

#include <csignal>
#include <cstdio>
#include <exception>

#include "server/config.h"
#include "server/server.h"

int main(int argc, char** argv) {
  using treecached::server::ParseOutcome;
  treecached::server::Config config;
  switch (treecached::server::parse_command_line(argc, argv, config)) {
    case ParseOutcome::kExitSuccess:
      return 0;
    case ParseOutcome::kExitFailure:
      return 64;
    case ParseOutcome::kRun:
      break;
  }
  // Workers are woken from the acceptor thread; libevent needs its locks.
  if (evthread_use_pthreads() != 0) {
    std::fprintf(stderr, "treecached: libevent has no pthreads support\n");
    return 1;
  }
  std::signal(SIGPIPE, SIG_IGN);
  try {
    treecached::server::Server server(config);
    server.run();
  } catch (const std::exception& error) {
    std::fprintf(stderr, "treecached: %s\n", error.what());
    return 1;
  }
  return 0;
}
