# Loads the gem from this checkout, with the extension `rake compile` built
# into lib/. Run through bin/test (or `rake spec`), which compiles it first.
$LOAD_PATH.unshift File.expand_path("../lib", __dir__)
require "middle_management"

Dir[File.join(__dir__, "support", "**", "*.rb")].sort.each { |file| require file }

RSpec.configure do |config|
  config.disable_monkey_patching!
  config.order = :random
  Kernel.srand config.seed
  config.expect_with(:rspec) { |c| c.syntax = :expect }
end
