require "middle_management/local_formation"

# Heroku's formation API on 127.0.0.1 for specs: the local formation's
# Server, started, and stopped for you.
#
#   heroku = FakeHeroku.start(formation: { "worker" => 0 })
#   ENV["MIDDLE_MANAGEMENT_HEROKU_API_URL"] = heroku.url
#   ... expect(heroku.wait_for_quantity("worker", 2)).to be(true)
#
# Started inside an example, it stops after that example; started in a
# before(:context) hook, at the end of the run (or call `stop` yourself).
module FakeHeroku
  APP = "example"
  TOKEN = "fake-heroku-token-0123"

  @example_servers = []
  @suite_servers = []

  class << self
    def start(**options)
      server = build(**options).start
      (RSpec.current_example ? @example_servers : @suite_servers) << server
      server
    end

    # Any Server option (port:, rate_limit:, supervisor:) may be given too.
    def build(app: APP, token: TOKEN, formation: { "worker" => 0 }, limits: {}, **options)
      MiddleManagement::LocalFormation::Server.new(app: app, token: token, formation: formation, limits: limits, **options)
    end

    def stop_example_servers = stop(@example_servers)

    def stop_suite_servers = stop(@suite_servers)

    private

    def stop(servers)
      servers.pop.stop until servers.empty?
    end
  end

  module Helpers
    # Yields a started server and stops it when the block ends.
    def with_fake_heroku(**options)
      heroku = FakeHeroku.build(**options).start
      yield heroku
    ensure
      heroku&.stop
    end
  end
end

RSpec.configure do |config|
  config.include FakeHeroku::Helpers
  config.after(:each) { FakeHeroku.stop_example_servers }
  config.after(:suite) { FakeHeroku.stop_suite_servers }
end
