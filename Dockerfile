# loadns: loadns-server, loadns-agent, loadns-resolve and loadns-demo on Debian 12.
# Debian packages only, no downloads during the build. Used by docker-compose.yml.
# Warnings are not errors here (scripts/test keeps them so): an image build should not stop
# at a compiler's false positive.
#   docker build -t loadns .

FROM debian:12 AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      build-essential cmake ninja-build pkg-config \
      libpqxx-dev libc-ares-dev libboost-dev libspdlog-dev libfmt-dev libcli11-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN rm -rf build \
 && cmake -S . -B /build -G Ninja -DCMAKE_BUILD_TYPE=Release -DLOADNS_BUILD_TESTS=OFF \
          -DLOADNS_BUILD_BENCH=OFF \
 && cmake --build /build \
 && cmake --install /build --prefix /opt/loadns --strip

FROM debian:12-slim
# Runtime libraries of the binaries, and psql for the one-shot seeding in docker-compose.
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      libpqxx-6.4 libpq5 libc-ares2 libspdlog1.10 libfmt9 postgresql-client-15 \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin loadns
COPY --from=build /opt/loadns/bin/ /usr/local/bin/
COPY deploy/examples/demo-roles.sql deploy/examples/demo-seed.sql /usr/local/share/loadns/
USER loadns
# DNS on 5300 inside the container (no capability needed); docker-compose maps port 53 to it.
# Metrics on the container's loopback only unless configured (docker-compose's Prometheus
# scrapes over its private network and sets 0.0.0.0:9153 itself).
EXPOSE 5300/udp 5300/tcp
CMD ["loadns-server", "--listen", "0.0.0.0:5300", "--metrics-listen", "127.0.0.1:9153"]
