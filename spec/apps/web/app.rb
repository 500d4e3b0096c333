# A minimal Rails app that mounts the page, on PostgreSQL with Delayed Job,
# for spec/web_browser_spec.rb: it makes real decisions against the local
# formation (MIDDLE_MANAGEMENT_HEROKU_API_URL), then serves on 127.0.0.1.
#   WEB_APP_DATABASE_URL=postgres://… WEB_APP_PORT=… ruby spec/apps/web/app.rb
root = File.expand_path("../../..", __dir__)
$LOAD_PATH.unshift File.join(root, "lib"), File.join(root, "demo")
$stdout.sync = true # the spec reads "listening on" from a file as it comes
require "rails"
require "action_controller/railtie"
require "database" # demo/database.rb: Delayed Job and the store's tables
require "middle_management" # as Bundler.require does, before the app is defined
require "rack/handler/webrick"

class WebApp < Rails::Application
  config.eager_load = false
  config.logger = Logger.new($stdout, level: Logger::WARN)
  config.active_support.deprecation = :silence
  config.secret_key_base = "web-spec-not-a-secret"
  config.hosts.clear
  initializer("app.middle_management", after: :load_config_initializers) do
    MiddleManagement.configure do |c|
      c.logger = Logger.new($stdout)
      c.pool "urgent_worker", queues: %w[urgent], max: 2, jobs_per_worker: 1
    end
  end
  routes.append do
    mount MiddleManagement::Web => "/middle_management"
    # The same page as an app without credentials configured has it.
    unconfigured = MiddleManagement::Web::Auth.new(MiddleManagement::Configuration.new, nil)
    mount MiddleManagement::Web.new(auth: unconfigured) => "/unconfigured/middle_management"
  end
end

ActiveRecord::Base.establish_connection(ENV.fetch("WEB_APP_DATABASE_URL"))
DemoDatabase.define_tables(ActiveRecord::Base)
WebApp.initialize!

# Real decisions: work arrives, then goes. Each flush decides and waits for
# Heroku's (the local formation's) answer.
def decide(what)
  MiddleManagement.flush(10) or abort("no answer from the formation after #{what}")
end
3.times { MiddleManagement::Slacker.delay.slack_for(0) }
MiddleManagement::Slacker.delay(queue: "urgent").slack_for(0)
decide("enqueueing 4 jobs")
Delayed::Job.where(queue: nil).limit(2).delete_all # as if workers had done them
MiddleManagement.scale_now(10)
decide("two jobs done")
# A web server watches from its first request and decides then: do it now,
# so the history the spec compares with the page is written before it looks.
MiddleManagement.watch
decide("watching")
puts "decided: #{MiddleManagement.status[:pools].map { |pool| "#{pool[:name]}=#{pool[:known]}" }.join(" ")}"

port = Integer(ENV.fetch("WEB_APP_PORT"))
Rack::Handler::WEBrick.run(WebApp, Host: "127.0.0.1", Port: port, AccessLog: [],
                                   Logger: WEBrick::Log.new($stdout, WEBrick::BasicLog::WARN),
                                   StartCallback: -> { puts "listening on 127.0.0.1:#{port}" })
