require "time"

module MiddleManagement
  module LocalFormation
    # The objects the API answers with, in the shape of Heroku's schema: the
    # app, the account that owns it, a formation entry and a dyno. Heroku's
    # CLI reads more of them than the formation endpoints alone (`ps:scale`
    # asks for the app first, `heroku ps` for the account and the dynos too).
    class Representations
      STACK = "heroku-24"
      REGION = "us"
      GENERATION = "cedar" # the generation whose limits DynoSizes models

      def initialize(app:, app_id:)
        @app = app
        @app_id = app_id
        @created_at = Time.now.utc.iso8601
        @account_id = LocalFormation.stable_id("account #{app_id}")
      end

      def app
        stack = named("stack", STACK)
        {
          "acm" => false, "archived_at" => nil, "buildpack_provided_description" => nil, "build_stack" => stack,
          "created_at" => @created_at, "generation" => named("generation", GENERATION),
          "git_url" => "https://git.heroku.com/#{@app}.git", "id" => @app_id, "internal_routing" => nil,
          "maintenance" => false, "name" => @app, "organization" => nil, "owner" => owner,
          "region" => named("region", REGION), "released_at" => @created_at, "repo_size" => nil, "slug_size" => nil,
          "space" => nil, "stack" => stack, "team" => nil, "updated_at" => @created_at, "web_url" => nil
        }
      end

      def account
        {
          "allow_tracking" => false, "beta" => false, "country_of_residence" => nil, "created_at" => @created_at,
          "default_organization" => nil, "default_team" => nil, "delinquent_at" => nil, "email" => owner["email"],
          "federated" => false, "id" => @account_id, "identity_provider" => nil, "last_login" => @created_at,
          "name" => "Local Formation", "sms_number" => nil, "suspended_at" => nil,
          "two_factor_authentication" => false, "updated_at" => @created_at, "verified" => true
        }
      end

      # process: a Formation::ProcessType.
      def formation(process)
        {
          "app" => app_identity, "command" => process.command, "created_at" => process.created_at,
          "dyno_size" => { "id" => DynoSizes.id(process.size), "name" => process.size }, "id" => process.id,
          "quantity" => process.quantity, "size" => process.size, "type" => process.type,
          "updated_at" => process.updated_at
        }
      end

      STATES = { up: "up", starting: "starting" }.freeze # a stopping dyno is "down"

      # status: a Supervisor::Status (a running process, or one the formation
      # implies when nothing runs them); process: its type's formation entry.
      def dyno(status, process)
        since = status.up_since.utc.iso8601
        {
          "app" => app_identity, "attach_url" => nil, "command" => process.command, "created_at" => since,
          "id" => LocalFormation.stable_id("dyno #{@app_id} #{status.name} #{status.pid} #{since}"),
          "name" => status.name, "release" => { "id" => LocalFormation.stable_id("release #{@app_id}"), "version" => 1 },
          "size" => process.size, "state" => STATES.fetch(status.state, "down"), "type" => status.type,
          "updated_at" => since
        }
      end

      private

      def app_identity = { "id" => @app_id, "name" => @app }

      def owner = { "email" => "#{@app}@local.invalid", "id" => @account_id }

      def named(kind, name) = { "id" => LocalFormation.stable_id("#{kind} #{name}"), "name" => name }
    end
  end
end
