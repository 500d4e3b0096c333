require "rbconfig"
require "shellwords"

# A Makefile for building the crate without rb_sys: `make` runs cargo,
# `make install` copies the library to $(sitearchdir)/middle_management/, where
# RubyGems' builder and `rake compile` both expect it.
module PlainMakefile
  def self.write(crate_dir, target)
    subdir, name = File.split(target)
    cargo_dlext = RbConfig::CONFIG["host_os"].include?("darwin") ? "dylib" : "so"
    given_target_dir = ENV["CARGO_TARGET_DIR"]
    target_dir = given_target_dir || File.join(Dir.pwd, "target")
    # A gem build leaves its build directory inside the installed gem: drop
    # cargo's half a gigabyte of intermediates there, but never a target
    # directory someone pointed us at.
    cleanup = given_target_dir ? "" : "\trm -rf #{target_dir.shellescape}\n"
    File.write("Makefile", <<~MAKE)
      sitearchdir ?= #{RbConfig::CONFIG["sitearchdir"]}
      CARGO ?= cargo
      CARGO_TARGET_DIR ?= #{target_dir.shellescape}
      DLLIB = #{name}.#{RbConfig::CONFIG["DLEXT"]}

      # RubyGems sets SOURCE_DATE_EPOCH to the time of each install; cargo
      # reruns the build scripts that watch it (ring's, for its C code) and
      # rebuilds the TLS stack on every install even with a warm
      # CARGO_TARGET_DIR. The library has no timestamp to make reproducible.
      unexport SOURCE_DATE_EPOCH

      all: $(DLLIB)

      # Always ask cargo: it knows whether anything changed.
      $(DLLIB): FORCE
      \tCARGO_TARGET_DIR=$(CARGO_TARGET_DIR) $(CARGO) build --release --locked --manifest-path #{File.join(crate_dir, "Cargo.toml").shellescape}
      \tcp $(CARGO_TARGET_DIR)/release/libmiddle_management.#{cargo_dlext} $(DLLIB)

      install: $(DLLIB)
      \tmkdir -p $(sitearchdir)/#{subdir}
      \tcp $(DLLIB) $(sitearchdir)/#{subdir}/$(DLLIB)
      #{cleanup}
      clean:
      \trm -f $(DLLIB)

      FORCE:
      .PHONY: all install clean FORCE
    MAKE
  end
end
