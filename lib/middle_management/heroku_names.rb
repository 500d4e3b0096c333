module MiddleManagement
  # Heroku's names, as its Platform API schema gives them. The settings
  # refuse what Heroku would refuse, the local formation (the gem's model of
  # Heroku) refuses it the same way, and dyno names are read with them.
  module HerokuNames
    # One character of a process type (\w is ASCII in Ruby).
    PROCESS_TYPE_CHAR = /[-\w]/
    # A process type: the schema's `^[-\w]{1,128}$`.
    PROCESS_TYPE = /\A#{PROCESS_TYPE_CHAR}{1,128}\z/
    PROCESS_TYPE_SCHEMA = "^[-\\w]{1,128}$".freeze
    # An app's name or its id.
    APP = /\A(?:[a-z][a-z0-9-]{1,28}[a-z0-9]|\h{8}-\h{4}-\h{4}-\h{4}-\h{12})\z/
  end
end
