# Loads the gem from this checkout, with the extension `rake compile` built
# into lib/. Run through bin/test (or `rake spec`), which compiles it first.
$LOAD_PATH.unshift File.expand_path("../lib", __dir__)
require "middle_management"

Dir[File.join(__dir__, "support", "**", "*.rb")].sort.each { |file| require file }

RSpec.configure do |config|
  config.disable_monkey_patching!
  # Defined order keeps RSpec's summary the last line of bin/test (a random
  # order prints its seed after it); run `rspec --order random` to shuffle.
  config.expect_with(:rspec) { |c| c.syntax = :expect }
end
