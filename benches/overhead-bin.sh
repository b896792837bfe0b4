# Sourced by the bench scripts: builds `overhead` and sets `bin` to it.
#
#   overhead_bin [CARGO_BUILD_ARG ...]   e.g. overhead_bin --features compile-out
#
# PROFILE picks the cargo profile (default `release`); `PROFILE=release-lto`
# builds with fat LTO (the workspace's Cargo.toml), as a service built with
# `lto = true` runs. Run from the workspace root.
overhead_bin() {
  local profile=${PROFILE:-release} target_dir
  case $profile in
    '' | *[!A-Za-z0-9_-]*)
      echo "$(basename "$0"): PROFILE must name a cargo profile such as release or release-lto (got '$profile')" >&2
      exit 2 ;;
  esac
  cargo build --profile "$profile" -q -p mapguard-benches --bin overhead "$@"
  # Where cargo built it, whatever sets the target directory (env or cargo config).
  target_dir=$(cargo metadata --no-deps --format-version 1 | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')
  [ -n "$target_dir" ] || { echo "$(basename "$0"): cargo metadata gave no target directory" >&2; exit 1; }
  # cargo puts the `dev` profile's output in debug/, every other profile's in its own name.
  [ "$profile" = dev ] && profile=debug
  bin=$target_dir/$profile/overhead
}
