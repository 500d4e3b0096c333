# The local formation: Heroku's formation API and dyno manager, on this
# machine. A Server answers the Platform API's formation endpoints on
# 127.0.0.1 (validating requests as Heroku does, with fault injection for
# tests); with a Supervisor it also runs a Procfile's processes at the
# quantities the API sets, so an app can watch Middle Management hire and fire
# workers without a Heroku account:
#
#   procfile = MiddleManagement::LocalFormation::Procfile.load("Procfile")
#   supervisor = MiddleManagement::LocalFormation::Supervisor.new(procfile, grace: 5, output: $stdout)
#   server = MiddleManagement::LocalFormation::Server.new(app: "local", token: "secret", supervisor: supervisor).start
#   # MIDDLE_MANAGEMENT_HEROKU_API_URL=#{server.url} ...; then server.stop
#
# Plain Ruby (stdlib, json, webrick, which the listener requires): loading it
# does not load the gem's native extension, so the command and fake Heroku
# work without a build.
require "json"

module MiddleManagement
  module LocalFormation
  end
end

require_relative "local_formation/dyno_sizes"
require_relative "local_formation/formation"
require_relative "local_formation/api_error"
require_relative "local_formation/request_validation"
require_relative "local_formation/update_params"
require_relative "local_formation/list_range"
require_relative "local_formation/representations"
require_relative "local_formation/etag"
require_relative "local_formation/api"
require_relative "local_formation/request_log"
require_relative "local_formation/faults"
require_relative "local_formation/rate_limit"
require_relative "local_formation/request_handler"
require_relative "local_formation/listener"
require_relative "local_formation/server"
require_relative "local_formation/procfile"
require_relative "local_formation/output"
require_relative "local_formation/dyno"
require_relative "local_formation/crash_backoff"
require_relative "local_formation/exit_guard"
require_relative "local_formation/supervisor"
require_relative "local_formation/web_request"
require_relative "local_formation/local_page"
