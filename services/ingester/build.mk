# The ingester writes its measurement archives gzip-compressed (Debian
# zlib1g-dev).
LDLIBS_ingester := -lz
