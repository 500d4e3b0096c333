module MiddleManagement
  # Everything this gem raises is a MiddleManagement::Error.
  class Error < StandardError; end

  # A setting is missing its point: the message names the variable (or
  # `configure` attribute) and what is wrong with its value.
  class ConfigurationError < Error; end
end
