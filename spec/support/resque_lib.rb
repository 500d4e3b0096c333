# Resque is not packaged for Debian: these run against an installed gem, or
# the library at RESQUE_LIB (a directory holding resque.rb), else skip.
RESQUE_LIB_DIR =
  if (gem = Gem::Specification.find_all_by_name("resque").max_by(&:version))
    gem.full_require_paths.first
  elsif (lib = ENV["RESQUE_LIB"]) && File.file?(File.join(lib, "resque.rb"))
    File.expand_path(lib)
  end
