require "stringio"

# Boots the gem the way an app does, from MIDDLE_MANAGEMENT_* variables,
# with its log captured.
module Booting
  def boot_middle_management(vars)
    MiddleManagement.reset!
    @middle_management_log = StringIO.new
    saved = ENV.select { |key, _| key.start_with?("MIDDLE_MANAGEMENT_") }
    begin
      saved.each_key { |key| ENV.delete(key) }
      vars.each { |key, value| ENV["MIDDLE_MANAGEMENT_#{key}"] = value.to_s }
      MiddleManagement.configuration.logger = Logger.new(@middle_management_log, level: Logger::DEBUG)
      MiddleManagement.boot
    ensure
      ENV.delete_if { |key, _| key.start_with?("MIDDLE_MANAGEMENT_") }
      ENV.update(saved)
    end
  end

  def middle_management_log
    @middle_management_log.string
  end
end

RSpec.configure do |config|
  config.include Booting
  config.after { MiddleManagement.reset! }
end
